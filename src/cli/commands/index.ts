import type { Command } from 'commander';
import { register as control } from './control';
import { register as demo } from './demo';
import { register as dev } from './dev';
import { register as gateway } from './gateway';
import { register as promote } from './promote';
import { register as registerModel } from './register';
import { register as rollback } from './rollback';
import { register as schema } from './schema';
import { register as status } from './status';
import { register as traffic } from './traffic';
import { register as validate } from './validate';
import { register as verify } from './verify';
import { register as webhook } from './webhook';
import { register as worker } from './worker';

/** Each command module exports `register(program)`; listing them here is the one place to wire one in. */
export const commands: ReadonlyArray<(program: Command) => void> = [
  demo,
  dev,
  validate,
  schema,
  registerModel,
  promote,
  status,
  control,
  rollback,
  verify,
  worker,
  gateway,
  traffic,
  webhook,
];
