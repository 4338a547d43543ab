import { CommanderError, type Command } from 'commander';
import { errorCodeIn } from '../activities/failures';
import { exitClassOf } from '../error-codes';
import { messageOf } from '../errors';
import { EXIT_CODE_OF_CLASS, ExitCode } from './exit-codes';

/** Thrown by a command to end with a chosen exit code after it has printed its own output. */
export class CliExit extends Error {
  constructor(readonly exitCode: ExitCode) {
    super(`exit ${exitCode}`);
  }
}

/**
 * The documented exit code of a thrown error: a lookup of its code's class in the catalogue
 * (src/error-codes.ts), whether the code is on a ProgradeError or on a Temporal failure that came
 * back to the CLI. An error without a catalogue code is unexpected, so it is infrastructure.
 */
export function exitCodeFor(e: unknown): ExitCode {
  if (e instanceof CliExit) return e.exitCode;
  const code = errorCodeIn(e);
  return code === undefined ? ExitCode.infrastructure : EXIT_CODE_OF_CLASS[exitClassOf(code)];
}

export async function runCli(program: Command, argv: readonly string[]): Promise<void> {
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : ExitCode.invalidInput;
      return;
    }
    if (!(e instanceof CliExit)) {
      const errorCode = errorCodeIn(e);
      const code = errorCode === undefined ? '' : ` [${errorCode}]`;
      console.error(`prograde: ${messageOf(e)}${code}`);
      if (process.env.PROGRADE_DEBUG && e instanceof Error) console.error(e.stack);
    }
    process.exitCode = exitCodeFor(e);
  }
}
