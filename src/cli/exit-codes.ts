import type { ExitClass } from '../error-codes';

/**
 * Documented exit codes, so CI can tell a model that was judged and refused from a broken pipeline.
 *   0 promoted / success        2 invalid input (spec, flags, files, a request that cannot apply)
 *   1 rejected (gate, approver, timeout, rolled back)   3 infrastructure error (unreachable, crashed)
 * An error that ends a command exits with its code's class in src/error-codes.ts (`[CODE]` is printed
 * after the message); an error with no catalogue code is unexpected and exits 3. A promotion that ran
 * to an outcome exits by that outcome (`exitCodeForOutcome`): promoted 0; rejected, rolled back or
 * aborted 1; failed 3.
 * `prograde promote` also exits 0 for a version already promoted by an earlier run (nothing is done),
 * and 2 for a model, version or candidate alias that MLflow does not have (nothing is started).
 * `prograde rollback` exits 2 when the champion has no previous champion to go back to.
 * `prograde traffic` exits 2 for a non-loopback gateway without --allow-remote, 1 when the gateway
 * answered and every request failed (e.g. all HTTP 400), and 3 when no request got an answer at all.
 */
export const ExitCode = {
  ok: 0,
  rejected: 1,
  invalidInput: 2,
  infrastructure: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit code of each class of error; every error code's class is in src/error-codes.ts, so an
 * error ends the CLI with `EXIT_CODE_OF_CLASS[exitClassOf(code)]`.
 */
export const EXIT_CODE_OF_CLASS: Readonly<Record<ExitClass, ExitCode>> = {
  'invalid-input': ExitCode.invalidInput,
  rejected: ExitCode.rejected,
  infrastructure: ExitCode.infrastructure,
};
