import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { plainErrors, toIssues, type Issue } from './issues';
import { locate } from './locate';
import { PromotionSpec } from './schema';
import { SpecError, formatPath, type SpecProblem } from './spec-error';

export { resolveDatasetLocation, type DatasetLocation } from './dataset-location';

export interface LoadedSpec {
  spec: PromotionSpec;
  /** Absolute path of the spec file. */
  file: string;
  /** Directory relative dataset paths are resolved against. */
  baseDir: string;
  /** Hex SHA-256 of the file's bytes, recorded as evidence of exactly which spec ran. */
  sha256: string;
}

/** Reads, parses and validates a spec file; throws `SpecError` listing every problem. */
export async function loadSpec(filePath: string): Promise<LoadedSpec> {
  const file = path.resolve(filePath);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new SpecError('SPEC_NOT_FOUND', filePath, [], { cause: e });
    }
    throw e;
  }
  const spec = parseSpec(bytes.toString('utf8'), filePath);
  return {
    spec,
    file,
    baseDir: path.dirname(file),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/**
 * Parses spec text. `fileName` only labels problems (`promotion.yaml:12:7 ...`). YAML syntax errors,
 * duplicate keys and schema problems are all reported together, each at its line and column.
 */
export function parseSpec(text: string, fileName: string): PromotionSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(offset);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  };

  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e): SpecProblem => ({
      file: fileName,
      ...at(e.pos[0]),
      path: '',
      message: yamlMessage(e.code, e.message, text.slice(e.pos[0])),
    }));
    throw new SpecError('SPEC_INVALID', fileName, problems);
  }

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) {
    throw new SpecError('SPEC_INVALID', fileName, [
      {
        file: fileName,
        line: 1,
        column: 1,
        path: '',
        message: 'the file is empty; a spec starts with apiVersion: prograde/v1',
      },
    ]);
  }

  const { params, allowedKeys } = plainErrors();
  const result = PromotionSpec.safeParse(data, params);
  if (result.success) return result.data;
  throw new SpecError(
    'SPEC_INVALID',
    fileName,
    toProblems(toIssues(result.error.issues, allowedKeys), doc, lineCounter, fileName),
  );
}

function toProblems(
  issues: readonly Issue[],
  doc: Document,
  lineCounter: LineCounter,
  fileName: string,
): SpecProblem[] {
  const seen = new Set<string>();
  const problems: SpecProblem[] = [];
  for (const issue of issues) {
    const problem: SpecProblem = {
      file: fileName,
      ...locate(doc, lineCounter, issue.path, issue.atKey),
      path: formatPath(issue.path),
      message: issue.message,
    };
    const key = `${problem.path}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** yaml's messages carry a code excerpt meant for a terminal; keep the first sentence. */
function yamlMessage(code: string, message: string, rest: string): string {
  if (code === 'DUPLICATE_KEY') {
    const key = /^("[^"\n]*"|'[^'\n]*'|[^:#,{}[\]\n]+?)\s*:/.exec(rest)?.[1];
    return `duplicate key${key === undefined ? '' : ` ${key.startsWith("'") ? key : `'${key.replace(/^"|"$/g, '')}'`}`}; a key may appear only once in a mapping`;
  }
  const first = message.split('\n')[0] ?? message;
  return `YAML syntax: ${first.replace(/ at line \d+, column \d+:?$/, '')}`;
}
