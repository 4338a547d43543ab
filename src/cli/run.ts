import { CommanderError, type Command } from 'commander';
import { ProgradeError, messageOf } from '../errors';
import { ExitCode } from './exit-codes';

/** Thrown by a command to end with a chosen exit code after it has printed its own output. */
export class CliExit extends Error {
  constructor(readonly exitCode: ExitCode) {
    super(`exit ${exitCode}`);
  }
}

/** Maps a thrown error to a message on stderr and a documented exit code. */
export function exitCodeFor(e: unknown): ExitCode {
  if (e instanceof ProgradeError && (e.code === 'DECISION_REFUSED' || e.code === 'PROMOTION_NOT_FOUND'))
    return ExitCode.invalidInput;
  if (e instanceof CliExit) return e.exitCode;
  if (e instanceof ProgradeError) {
    if (e.code === 'INVALID_INPUT' || e.code.startsWith('SPEC_') || e.code.endsWith('_INVALID'))
      return ExitCode.invalidInput;
    return ExitCode.infrastructure;
  }
  return ExitCode.infrastructure;
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
      const code = e instanceof ProgradeError ? ` [${e.code}]` : '';
      console.error(`prograde: ${messageOf(e)}${code}`);
      if (process.env.PROGRADE_DEBUG && e instanceof Error) console.error(e.stack);
    }
    process.exitCode = exitCodeFor(e);
  }
}
