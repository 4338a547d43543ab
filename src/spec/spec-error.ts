import { ProgradeError } from '../errors';

/**
 * One thing wrong with a spec, located in its file. Lines and columns are 1-based; both are 0 for a
 * problem with the file as a whole (missing, not a regular file, too large).
 */
export interface SpecProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path of the value, e.g. `gates.performance[1].metric`; empty for the document itself. */
  path: string;
  message: string;
}

/**
 * `SPEC_INVALID`: the text is not a valid spec. The others are about the file: `SPEC_NOT_FOUND`
 * (missing), `SPEC_NOT_A_FILE` (a directory, FIFO, device, socket), `SPEC_TOO_LARGE`,
 * `SPEC_UNREADABLE` (permissions, link loops). All are invalid input (exit 2).
 */
export type SpecErrorCode =
  'SPEC_INVALID' | 'SPEC_NOT_FOUND' | 'SPEC_NOT_A_FILE' | 'SPEC_TOO_LARGE' | 'SPEC_UNREADABLE';

const MAX_SEGMENT = 60;

/** `gates.performance[1].metric` from `['gates', 'performance', 1, 'metric']`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    const text = typeof seg === 'number' ? `[${seg}]` : truncate(escapeControls(seg), MAX_SEGMENT);
    out += typeof seg === 'number' ? text : out === '' ? text : `.${text}`;
  }
  return out;
}

// C0 and C1 controls, DEL, and the bidirectional overrides that can make a terminal show other text.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Shows control characters as `\u001b` so a hostile spec cannot drive the terminal that prints it. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Cuts text longer than `max` characters, saying how much was left out. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Text from the spec quoted for a message: control characters escaped, long text cut. */
export function quote(text: string): string {
  return `'${truncate(escapeControls(text), 60)}'`;
}

/** A message fit for a terminal: no control characters, at most a few lines' worth. */
export function safeMessage(message: string): string {
  return truncate(escapeControls(message), 1000);
}

/** One problem as a compiler-style line: `promotion.yaml:12:7 gates.performance[1].metric: ...`. */
export function formatProblem(p: SpecProblem): string {
  if (p.line === 0) return `${p.file}: ${p.message}`;
  return `${p.file}:${p.line}:${p.column} ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

/** Thrown when a spec cannot be read or is not valid; `problems` lists every problem found. */
export class SpecError extends ProgradeError {
  override readonly name = 'SpecError';

  constructor(
    code: SpecErrorCode,
    readonly file: string,
    readonly problems: readonly SpecProblem[],
    /** `total`: how many problems there were when `problems` lists only the first of them. */
    options?: { cause?: unknown; total?: number },
  ) {
    const total = options?.total ?? problems.length;
    const head =
      code === 'SPEC_NOT_FOUND'
        ? `spec file not found: ${file}`
        : code === 'SPEC_INVALID'
          ? `${file} is not a valid promotion spec (${total} problem${total === 1 ? '' : 's'})`
          : `${file}: ${problems[0]?.message ?? 'cannot be read'}`;
    super(
      code,
      problems.length > 0 && code === 'SPEC_INVALID'
        ? `${head}:\n${problems.map(formatProblem).join('\n')}`
        : head,
      'terminal',
      { file, problems },
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
  }

  /** One line per problem, file:line:column path: message (file: message for the file as a whole). */
  format(): string {
    return this.problems.map(formatProblem).join('\n');
  }
}
