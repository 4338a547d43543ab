import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { InputFileError, formatBytes, readInputFile } from '../input-file';
import { plainErrors, toIssues, type Issue, type IssuePath } from './issues';
import { locate, positionOf, type Position } from './locate';
import { PromotionSpec } from './schema';
import { SpecError, formatPath, safeMessage, type SpecErrorCode, type SpecProblem } from './spec-error';
import { yamlData, type YamlIndex } from './yaml-data';

export { resolveDatasetLocation, type DatasetLocation } from './dataset-location';
export { MAX_ALIAS_EXPANSION, MAX_NESTING } from './yaml-data';

/**
 * The loader every path shares — `prograde validate`, `promote --spec`, `rollback --spec`, the demo —
 * so a spec is refused the same way wherever it comes from. Limits, each with its own message:
 * a spec is a regular file of at most `MAX_SPEC_BYTES`, UTF-8 without control characters, one YAML
 * document nested at most `MAX_NESTING` deep whose aliases add at most `MAX_ALIAS_EXPANSION` values.
 * Every step is linear in the size of the text.
 */

/** Largest spec file read: 1 MiB, about fifty times the commented example with 40,000 features listed. */
export const MAX_SPEC_BYTES = 1024 * 1024;
/** Problems listed at most; the rest are counted. A spec with 40,000 unknown keys needs fixing at its first few. */
export const MAX_PROBLEMS = 100;

export interface LoadedSpec {
  spec: PromotionSpec;
  /** Absolute path of the spec file. */
  file: string;
  /** Directory relative dataset paths are resolved against. */
  baseDir: string;
  /** Hex SHA-256 of the file's bytes, recorded as evidence of exactly which spec ran. */
  sha256: string;
  /** Things that are valid but probably not meant, e.g. a gate with no checks configured. */
  warnings: SpecProblem[];
}

/** A parsed spec and its warnings. */
export interface ParsedSpec {
  spec: PromotionSpec;
  warnings: SpecProblem[];
}

const FILE_CODES: Record<InputFileError['problem'], SpecErrorCode> = {
  'not-found': 'SPEC_NOT_FOUND',
  'not-a-file': 'SPEC_NOT_A_FILE',
  'too-large': 'SPEC_TOO_LARGE',
  unreadable: 'SPEC_UNREADABLE',
};

function fileProblem(fileName: string, message: string): SpecProblem {
  return { file: fileName, line: 0, column: 0, path: '', message };
}

/** Reads, parses and validates a spec file; throws `SpecError` listing every problem. */
export async function loadSpec(filePath: string): Promise<LoadedSpec> {
  const file = path.resolve(filePath);
  let bytes: Buffer;
  try {
    bytes = await readInputFile(file, MAX_SPEC_BYTES);
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    const message =
      e.problem === 'not-found'
        ? 'file not found'
        : e.problem === 'not-a-file'
          ? `${e.reason}; a spec is read only from a regular file`
          : e.problem === 'too-large'
            ? `the file ${e.reason} for a spec`
            : e.reason;
    throw new SpecError(FILE_CODES[e.problem], filePath, [fileProblem(filePath, message)], { cause: e });
  }
  const { spec, warnings } = parseSpecText(decodeSpec(bytes, filePath), filePath);
  return {
    spec,
    file,
    baseDir: path.dirname(file),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    warnings,
  };
}

/** The bytes as text; a file that is not UTF-8 is refused at its first bad byte. */
export function decodeSpec(bytes: Uint8Array, fileName: string): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const utf16 =
    bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
  if (utf16) {
    throw invalid(fileName, [
      {
        file: fileName,
        line: 1,
        column: 1,
        path: '',
        message: 'the file is UTF-16 or UTF-32 (it starts with such a byte order mark); save it as UTF-8',
      },
    ]);
  }
  // isUtf8 and this scan agree; the guard only keeps a disagreement from becoming a crash.
  const bad = Math.max(0, firstInvalidUtf8(bytes));
  const before = Buffer.from(bytes.buffer, bytes.byteOffset, bad);
  const lineStart = before.lastIndexOf(0x0a) + 1;
  let line = 1;
  for (let i = 0; i < lineStart; i++) if (before[i] === 0x0a) line += 1;
  const column = before.subarray(lineStart).toString('utf8').length + 1;
  const hex = (bytes[bad] ?? 0).toString(16).padStart(2, '0');
  throw invalid(fileName, [
    {
      file: fileName,
      line,
      column,
      path: '',
      message: `the file is not UTF-8 text: byte 0x${hex} at offset ${bad} starts no valid character (binary, or another encoding?)`,
    },
  ]);
}

/** Offset of the first byte that does not begin a well-formed UTF-8 sequence; -1 when there is none. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    if (c < 0x80) {
      i += 1;
      continue;
    }
    const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (need === 0 || i + need >= b.length) return i;
    let cp = c & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const d = b[i + k] ?? 0;
      if ((d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Parses spec text. `fileName` only labels problems (`promotion.yaml:12:7 ...`). YAML syntax errors,
 * duplicate keys and schema problems are all reported together, each at its line and column.
 */
export function parseSpec(text: string, fileName: string): PromotionSpec {
  return parseSpecText(text, fileName).spec;
}

/** `parseSpec`, with the warnings of a valid spec. */
export function parseSpecText(input: string, fileName: string): ParsedSpec {
  if (input.length > MAX_SPEC_BYTES || Buffer.byteLength(input, 'utf8') > MAX_SPEC_BYTES) {
    throw new SpecError('SPEC_TOO_LARGE', fileName, [
      fileProblem(
        fileName,
        `the text is ${formatBytes(Buffer.byteLength(input, 'utf8'))}; a spec may be at most ${formatBytes(MAX_SPEC_BYTES)}`,
      ),
    ]);
  }
  // A byte order mark at the start is allowed and not counted in columns.
  const text = input.startsWith('\ufeff') ? input.slice(1) : input;
  const forbidden = forbiddenCharacter(text);
  if (forbidden !== undefined) {
    throw invalid(fileName, [
      { file: fileName, ...positionIn(text, forbidden.offset), path: '', message: forbidden.message },
    ]);
  }

  const parsed = yamlData(text);
  if (!parsed.ok) {
    throw invalid(
      fileName,
      parsed.problems.map((p) => ({
        file: fileName,
        ...positionOf(parsed.index, p.offset),
        path: '',
        message: safeMessage(p.message),
      })),
    );
  }
  const { data, index } = parsed;
  if (data === null || data === undefined) {
    const empty = index.doc?.contents === null || index.doc?.contents === undefined;
    throw invalid(fileName, [
      {
        file: fileName,
        line: 1,
        column: 1,
        path: '',
        message: empty
          ? 'the file is empty; a spec starts with apiVersion: prograde/v1'
          : 'the document is null; a spec is a mapping that starts with apiVersion: prograde/v1',
      },
    ]);
  }

  const { params, allowedKeys } = plainErrors();
  const result = PromotionSpec.safeParse(data, params);
  if (!result.success)
    throw invalid(fileName, toProblems(toIssues(result.error.issues, allowedKeys), index, fileName));
  return { spec: result.data, warnings: specWarnings(result.data, index, fileName) };
}

/** A `SPEC_INVALID` error listing the first `MAX_PROBLEMS` problems in file order, and how many there were. */
function invalid(fileName: string, problems: SpecProblem[]): SpecError {
  const sorted = [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
  if (sorted.length <= MAX_PROBLEMS) return new SpecError('SPEC_INVALID', fileName, sorted);
  const next = sorted[MAX_PROBLEMS] as SpecProblem;
  const listed = [
    ...sorted.slice(0, MAX_PROBLEMS),
    {
      file: fileName,
      line: next.line,
      column: next.column,
      path: '',
      message: `${sorted.length - MAX_PROBLEMS} more problems are not listed (${sorted.length} in all); fix these first`,
    },
  ];
  return new SpecError('SPEC_INVALID', fileName, listed, { total: sorted.length });
}

function positionIn(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

// What YAML's c-printable excludes (C0 but tab/LF/CR, DEL, C1 but NEL, U+FFFE/FFFF, lone surrogates),
// plus a byte order mark past the start and a carriage return that ends no CRLF.
const FORBIDDEN =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\ufeff\ufffe\uffff]|\r(?!\n)|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function forbiddenCharacter(text: string): { offset: number; message: string } | undefined {
  const match = FORBIDDEN.exec(text);
  if (match === null) return undefined;
  const c = match[0];
  const code = `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  const message =
    c === '\u0000'
      ? 'the file contains a NUL character (U+0000); a spec is plain text, is this a binary file?'
      : c === '\r'
        ? 'a carriage return ends this line on its own; end lines with LF or CRLF'
        : c === '\ufeff'
          ? 'a byte order mark (U+FEFF) appears after the start of the file; remove it'
          : /[\ud800-\udfff]/.test(c)
            ? `the text holds a lone surrogate (${code}), which is not a character`
            : `the file contains the control character ${code}; a spec is plain text`;
  return { offset: match.index, message };
}

function toProblems(issues: readonly Issue[], index: YamlIndex, fileName: string): SpecProblem[] {
  const seen = new Set<string>();
  const problems: SpecProblem[] = [];
  for (const issue of issues) {
    const problem: SpecProblem = {
      file: fileName,
      ...locate(index, issue.path, issue.atKey),
      path: formatPath(issue.path),
      message: safeMessage(issue.message),
    };
    const key = `${problem.path}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

function warning(index: YamlIndex, fileName: string, path: IssuePath, message: string): SpecProblem {
  return { file: fileName, ...locate(index, path, true), path: formatPath(path), message };
}

/** Valid specs that probably do not mean what they say: gates that would judge nothing. */
function specWarnings(spec: PromotionSpec, index: YamlIndex, fileName: string): SpecProblem[] {
  const warnings: SpecProblem[] = [];
  const { performance, fairness, latency } = spec.gates;
  if (performance.length === 0) {
    warnings.push(
      warning(
        index,
        fileName,
        ['gates', 'performance'],
        'no checks configured; the performance gate will pass without judging the model',
      ),
    );
  }
  if (fairness !== undefined && fairness.checks.length === 0) {
    warnings.push(
      warning(
        index,
        fileName,
        ['gates', 'fairness', 'checks'],
        'no checks configured; the fairness gate will pass without judging the model',
      ),
    );
  }
  if (
    latency !== undefined &&
    latency.p50 === undefined &&
    latency.p95 === undefined &&
    latency.p99 === undefined &&
    latency.maxRatioVsChampion === undefined
  ) {
    warnings.push(
      warning(
        index,
        fileName,
        ['gates', 'latency'],
        'no checks configured (p50, p95, p99 or maxRatioVsChampion); the latency gate will measure but judge nothing',
      ),
    );
  }
  return warnings;
}
