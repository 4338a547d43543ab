import { ProgradeError } from '../errors';

/** One thing wrong with a spec, located in its file. Lines and columns are 1-based. */
export interface SpecProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path of the value, e.g. `gates.performance[1].metric`; empty for the document itself. */
  path: string;
  message: string;
}

export type SpecErrorCode = 'SPEC_INVALID' | 'SPEC_NOT_FOUND';

/** `gates.performance[1].metric` from `['gates', 'performance', 1, 'metric']`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

/** One problem as a compiler-style line: `promotion.yaml:12:7 gates.performance[1].metric: ...`. */
export function formatProblem(p: SpecProblem): string {
  return `${p.file}:${p.line}:${p.column} ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

/** Thrown when a spec cannot be read or is not valid; `problems` lists every problem found. */
export class SpecError extends ProgradeError {
  override readonly name = 'SpecError';

  constructor(
    code: SpecErrorCode,
    readonly file: string,
    readonly problems: readonly SpecProblem[],
    options?: { cause?: unknown },
  ) {
    const head =
      code === 'SPEC_NOT_FOUND'
        ? `spec file not found: ${file}`
        : `${file} is not a valid promotion spec (${problems.length} problem${problems.length === 1 ? '' : 's'})`;
    super(
      code,
      problems.length > 0 && code === 'SPEC_INVALID'
        ? `${head}:\n${problems.map(formatProblem).join('\n')}`
        : head,
      'terminal',
      { file, problems },
      options,
    );
  }

  /** One line per problem, file:line:column path: message. */
  format(): string {
    return this.problems.map(formatProblem).join('\n');
  }
}
