import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { IssuePath } from './issues';

/**
 * Finds where in the YAML text a value (or key) at a path lives. When the path runs past what the
 * file holds — a required key left out — the nearest enclosing key stands in, which is where a
 * person would add the missing one.
 */
export function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: IssuePath,
  atKey: boolean,
): { line: number; column: number } {
  const offset = offsetOf(doc, path, atKey);
  const { line, col } = lineCounter.linePos(offset);
  return { line: Math.max(line, 1), column: Math.max(col, 1) };
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function startOf(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

function offsetOf(doc: Document, path: IssuePath, atKey: boolean): number {
  let node: unknown = doc.contents;
  let fallback = startOf(node) ?? 0;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (pair === undefined) return fallback;
      const keyStart = startOf(pair.key) ?? fallback;
      if (last && atKey) return keyStart;
      fallback = keyStart;
      node = pair.value;
      // An empty value (`key:`) has no useful range of its own; its key is the place.
      const valueStart = isScalar(node) && node.value === null ? undefined : startOf(node);
      if (last) return valueStart ?? keyStart;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) return fallback;
      node = item;
      fallback = startOf(item) ?? fallback;
      if (last) return fallback;
    } else {
      return fallback;
    }
  }
  return fallback;
}
