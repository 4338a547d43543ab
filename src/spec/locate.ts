import { isAlias, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { IssuePath } from './issues';
import type { YamlIndex } from './yaml-data';

/** A 1-based line and column. */
export interface Position {
  line: number;
  column: number;
}

/** The line and column of an offset in the text. */
export function positionOf(index: Pick<YamlIndex, 'lineCounter'>, offset: number): Position {
  const { line, col } = index.lineCounter.linePos(offset);
  return { line: Math.max(line, 1), column: Math.max(col, 1) };
}

/**
 * Finds where in the YAML text a value (or key) at a path lives. When the path runs past what the
 * file holds — a required key left out — the nearest enclosing key stands in, which is where a
 * person would add the missing one. Each step is a lookup in the converter's index, so locating
 * every one of 40,000 problems stays linear.
 */
export function locate(index: YamlIndex, path: IssuePath, atKey: boolean): Position {
  return positionOf(index, offsetOf(index, path, atKey));
}

function startOf(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

function offsetOf(index: YamlIndex, path: IssuePath, atKey: boolean): number {
  let node: unknown = index.doc?.contents;
  let fallback = startOf(node) ?? 0;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isAlias(node)) node = index.targetOf(node);
    if (isMap(node)) {
      const pair = index.pairsOf(node)?.get(String(seg));
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
