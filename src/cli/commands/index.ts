import type { Command } from 'commander';

/** Each command module exports `register(program)`; listing them here is the one place to wire one in. */
export const commands: ReadonlyArray<(program: Command) => void> = [];
