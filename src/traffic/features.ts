import { InvalidInputError } from '../errors';

/** The same ceiling as the spec's `{ prefix, from, to }` feature range. */
export const MAX_FEATURE_COLUMNS = 100_000;

const RANGE_END = /^(.*?)(\d+)$/;

/**
 * Parses `--features`: comma-separated column names, where an item `f0..f29` is the spec's
 * `{ prefix: f, from: 0, to: 29 }` (f0, f1, …, f29) and may sit among plain names
 * (`age,f0..f9,income`). Both ends carry the prefix, so a typo in either shows up here rather than
 * as a missing column later. Indices are written as the spec writes them: no zero padding.
 */
export function parseFeatureList(text: string): string[] {
  const refuse = (why: string, item?: string): never => {
    throw new InvalidInputError(`--features ${item !== undefined ? `'${item}' ` : ''}${why}`, {
      features: text.slice(0, 200),
    });
  };
  const names: string[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    // A trailing comma is harmless; an empty list is caught below.
    if (item === '') continue;
    if (!item.includes('..')) {
      names.push(item);
    } else {
      for (const name of expandRange(item, refuse)) names.push(name);
    }
    if (names.length > MAX_FEATURE_COLUMNS) refuse(`names more than ${MAX_FEATURE_COLUMNS} columns`);
  }
  if (names.length === 0) refuse('names no column; give names like f0,f1 or a range like f0..f11');
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) refuse(`names column '${n}' twice`);
    seen.add(n);
  }
  return names;
}

function expandRange(item: string, refuse: (why: string, item?: string) => never): string[] {
  const ends = item.split('..');
  const form = 'is not a range <prefix><from>..<prefix><to> such as f0..f11';
  if (ends.length !== 2) return refuse(form, item);
  const [left, right] = ends.map((e) => RANGE_END.exec(e.trim()));
  if (!left || !right) return refuse(`${form} (both ends need a trailing index)`, item);
  const [, prefix = '', fromText = ''] = left;
  const [, toPrefix = '', toText = ''] = right;
  if (prefix !== toPrefix)
    return refuse(`${form}: the ends have different prefixes ('${prefix}' and '${toPrefix}')`, item);
  for (const digits of [fromText, toText]) {
    if (digits.length > 1 && digits.startsWith('0'))
      return refuse(
        `has the zero-padded index ${digits}; a range names columns ${prefix}0, ${prefix}1, … as the spec's { prefix, from, to } does — list padded names one by one`,
        item,
      );
  }
  if (fromText.length > 15 || toText.length > 15) return refuse('has an index too large to count', item);
  const from = Number(fromText);
  const to = Number(toText);
  if (to < from) return refuse(`runs backwards: ${to} is below ${from}`, item);
  if (to - from >= MAX_FEATURE_COLUMNS)
    return refuse(`spans ${to - from + 1} columns; a range may span at most ${MAX_FEATURE_COLUMNS}`, item);
  return Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);
}
