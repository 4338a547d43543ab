// Over 350 lines on purpose: one pass over the YAML document converts and indexes it at once,
// with the nesting and alias-expansion limits checked inline; split, the tree would be walked twice.
import {
  Composer,
  Lexer,
  LineCounter,
  Parser,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Alias,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';

/**
 * Turns spec text into plain data without trusting it. yaml's own `toJS` resolves every alias by
 * scanning the document (quadratic in the number of aliases), follows alias cycles into circular
 * objects, recurses once per nesting level (a stack overflow for `[[[[…`), checks duplicate keys
 * pairwise (quadratic: 40,000 keys took 15 s) and turns a list used as a key into a process
 * warning. This module drives yaml's lexer, parser and composer itself and converts the document in
 * one iterative pass, linear in the size of the text, with explicit limits.
 */

/** Deepest nesting a spec may have; a real one needs about six levels. */
export const MAX_NESTING = 64;
/** How many values aliases may add to a document when expanded (the billion-laughs guard). */
export const MAX_ALIAS_EXPANSION = 10_000;

/** One problem at an offset in the text. */
export interface YamlProblem {
  offset: number;
  message: string;
}

/** What `locate` needs to find a path in the document in constant time per step. */
export interface YamlIndex {
  readonly doc: Document | undefined;
  readonly lineCounter: LineCounter;
  /** The pairs of each mapping by their key as the data has it. */
  pairsOf(map: YAMLMap): ReadonlyMap<string, Pair> | undefined;
  /** The node an alias stands for. */
  targetOf(alias: Alias): Node | undefined;
}

export type YamlData =
  { ok: true; data: unknown; index: YamlIndex } | { ok: false; problems: YamlProblem[]; index: YamlIndex };

class TooDeep extends Error {
  constructor(readonly offset: number) {
    super('nesting too deep');
  }
}

/** Tags a spec may carry: the YAML 1.2 core schema's own (`!!str 123` keeps 123 as text). */
const CORE_TAGS = new Set(
  ['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`),
);

function unsupportedTag(tag: string): string {
  const short = tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
  return `the tag ${short} is not supported; a spec holds plain text, numbers, true/false, lists and mappings`;
}

/** A mapping key as the data has it: yaml's own rule (null is '', scalars are `String(value)`). */
export function keyString(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value) ?? '';
}

function offsetOf(node: unknown, fallback = 0): number {
  return (node as Node | null | undefined)?.range?.[0] ?? fallback;
}

/**
 * Lexes, parses and composes `text` as exactly one YAML document, refusing nesting deeper than
 * `MAX_NESTING` before the composer (which recurses) ever sees it.
 */
function composeOne(
  text: string,
  lineCounter: LineCounter,
): { doc: Document | undefined; problems: YamlProblem[] } {
  const lexer = new Lexer();
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0);
  function* tokens() {
    for (const lexeme of lexer.lex(text)) {
      yield* parser.next(lexeme);
      // The parser's stack holds one entry per open collection (plus the document).
      if (parser.stack.length > MAX_NESTING + 1) throw new TooDeep(parser.offset);
    }
    yield* parser.end();
  }
  const composer = new Composer({ uniqueKeys: false, prettyErrors: false, merge: false });
  const problems: YamlProblem[] = [];
  let doc: Document | undefined;
  try {
    for (const composed of composer.compose(tokens(), true, text.length)) {
      if (doc !== undefined) {
        problems.push({
          offset: composed.range[0],
          message: 'a second YAML document starts here; a spec file holds exactly one',
        });
        break;
      }
      doc = composed;
    }
  } catch (e) {
    if (!(e instanceof TooDeep)) throw e;
    return {
      doc: undefined,
      problems: [
        {
          offset: Math.min(e.offset, text.length),
          message: `nested more than ${MAX_NESTING} levels deep; a spec needs only a few levels`,
        },
      ],
    };
  }
  for (const e of [...(doc?.errors ?? []), ...(doc?.warnings ?? [])])
    problems.push({ offset: e.pos[0], message: yamlMessage(e.code, e.message) });
  return { doc, problems };
}

/** yaml's messages carry a code excerpt meant for a terminal; keep the first sentence. */
function yamlMessage(code: string, message: string): string {
  const first = (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'TAB_AS_INDENT') return 'YAML syntax: tabs may not indent; use spaces';
  const tag = code === 'TAG_RESOLVE_FAILED' ? /Unresolved tag: (.*)$/.exec(first)?.[1] : undefined;
  if (tag !== undefined) return unsupportedTag(tag);
  return `YAML syntax: ${first}`;
}

interface Built {
  value: unknown;
  /** Values in the subtree once every alias is expanded. */
  size: number;
  /** Nesting levels of the subtree once every alias is expanded. */
  depth: number;
}

interface Frame {
  node: YAMLMap | Pair | Node;
  items: readonly unknown[];
  next: number;
  out: Record<string, unknown> | unknown[];
  /** For a mapping: the key of the value being built, and each key's pair. */
  key: string | undefined;
  pairs: Map<string, Pair> | undefined;
  size: number;
  depth: number;
}

class Stop extends Error {
  constructor(readonly problem: YamlProblem) {
    super(problem.message);
  }
}

function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  // A key named __proto__ is data here, not the object's prototype.
  if (key === '__proto__')
    Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  else out[key] = value;
}

/** Converts a composed document to plain data in one iterative pass; see the module comment. */
class Converter {
  readonly problems: YamlProblem[] = [];
  readonly pairs = new WeakMap<YAMLMap, Map<string, Pair>>();
  readonly targets = new WeakMap<Alias, Node>();
  private readonly anchors = new Map<string, Node>();
  private readonly built = new WeakMap<Node, Built>();
  private readonly open = new WeakSet<Node>();
  private expansion = 0;
  private readonly stack: Frame[] = [];

  convert(root: unknown): unknown {
    let pending = this.enter(root);
    for (;;) {
      if (pending !== undefined) {
        const top = this.stack.at(-1);
        if (top === undefined) return pending.value;
        this.deliver(top, pending);
        pending = undefined;
      }
      const top = this.stack.at(-1);
      if (top === undefined) return undefined;
      if (top.next < top.items.length) {
        const item = top.items[top.next];
        top.next += 1;
        pending = top.pairs === undefined ? this.enter(item) : this.enterPair(top, item as Pair);
        continue;
      }
      this.stack.pop();
      pending = this.finish(top);
    }
  }

  private checkTag(node: Node): void {
    if (node.tag !== undefined && !CORE_TAGS.has(node.tag)) {
      this.problems.push({
        offset: offsetOf(node),
        message: unsupportedTag(node.tag),
      });
    }
  }

  private register(node: Node): void {
    if (node.anchor !== undefined && node.anchor !== '') this.anchors.set(node.anchor, node);
  }

  private leaf(value: unknown): Built {
    return { value, size: 1, depth: 1 };
  }

  /** A node's value when it is a leaf; pushes a frame and returns undefined for a collection. */
  private enter(node: unknown): Built | undefined {
    if (node === null || node === undefined) return this.leaf(null);
    if (isAlias(node)) return this.alias(node);
    if (isPair(node)) {
      // `[a: 1]`: a single-pair mapping inside a flow sequence.
      this.push(node as unknown as Node, [node], {});
      return undefined;
    }
    if (isScalar(node)) {
      this.checkTag(node);
      this.register(node);
      const value = typeof node.value === 'bigint' ? Number(node.value) : node.value;
      const built = this.leaf(value === undefined ? null : value);
      if (node.anchor !== undefined) this.built.set(node, built);
      return built;
    }
    if (isMap(node) || isSeq(node)) {
      this.checkTag(node);
      this.register(node);
      if (node.anchor !== undefined) this.open.add(node);
      this.push(node, node.items, isMap(node) ? {} : []);
      return undefined;
    }
    return this.leaf(null);
  }

  private push(node: Node, items: readonly unknown[], out: Record<string, unknown> | unknown[]): void {
    if (this.stack.length >= MAX_NESTING) {
      throw new Stop({
        offset: offsetOf(node),
        message: `nested more than ${MAX_NESTING} levels deep; a spec needs only a few levels`,
      });
    }
    const pairs = Array.isArray(out) ? undefined : new Map<string, Pair>();
    if (pairs !== undefined && isMap(node)) this.pairs.set(node, pairs);
    this.stack.push({ node, items, next: 0, out, key: undefined, pairs, size: 1, depth: 1 });
  }

  private alias(node: Alias): Built {
    const target = this.anchors.get(node.source);
    const at = offsetOf(node);
    if (target === undefined) {
      this.problems.push({
        offset: at,
        message: `the alias *${node.source} has no anchor &${node.source} before it`,
      });
      return this.leaf(null);
    }
    this.targets.set(node, target);
    if (this.open.has(target)) {
      throw new Stop({
        offset: at,
        message: `the alias *${node.source} is inside the value it refers to; aliases may not form a cycle`,
      });
    }
    const built = this.built.get(target);
    if (built === undefined) return this.leaf(null);
    // Expanding this alias adds a copy of everything under its target.
    this.expansion += built.size - 1;
    if (this.expansion > MAX_ALIAS_EXPANSION) {
      throw new Stop({
        offset: at,
        message: `aliases expand this spec by more than ${MAX_ALIAS_EXPANSION} values; a spec may not use aliases to grow itself (the "billion laughs" attack)`,
      });
    }
    if (this.stack.length + built.depth > MAX_NESTING) {
      throw new Stop({
        offset: at,
        message: `the alias *${node.source} nests the spec more than ${MAX_NESTING} levels deep`,
      });
    }
    return built;
  }

  private enterPair(frame: Frame, pair: Pair): Built | undefined {
    const key = this.keyOf(pair.key);
    frame.key = key;
    if (key !== undefined && frame.pairs !== undefined) {
      if (frame.pairs.has(key)) {
        this.problems.push({
          offset: offsetOf(pair.key, offsetOf(pair.value)),
          message: `duplicate key '${key}'; a key may appear only once in a mapping`,
        });
        frame.key = undefined;
      } else {
        frame.pairs.set(key, pair);
      }
    }
    return this.enter(pair.value);
  }

  /** The key as text, or undefined (with a problem) when it is a list or a mapping. */
  private keyOf(key: unknown): string | undefined {
    if (key === null || key === undefined) return '';
    if (isAlias(key)) {
      const { value } = this.alias(key);
      if (typeof value !== 'object' || value === null) return keyString(value);
    } else if (isScalar(key)) {
      this.checkTag(key);
      this.register(key);
      const value = typeof key.value === 'bigint' ? Number(key.value) : key.value;
      if (key.anchor !== undefined) this.built.set(key, this.leaf(value));
      return keyString(value);
    }
    this.problems.push({
      offset: offsetOf(key),
      message: 'a key must be plain text, not a list or a mapping',
    });
    return undefined;
  }

  private deliver(frame: Frame, child: Built): void {
    frame.size += child.size;
    frame.depth = Math.max(frame.depth, child.depth + 1);
    if (Array.isArray(frame.out)) frame.out.push(child.value);
    else if (frame.key !== undefined) setKey(frame.out, frame.key, child.value);
  }

  private finish(frame: Frame): Built {
    const built: Built = { value: frame.out, size: frame.size, depth: frame.depth };
    const node = frame.node as Node;
    if (!isPair(node) && node.anchor !== undefined) {
      this.open.delete(node);
      this.built.set(node, built);
    }
    return built;
  }
}

/** Parses spec text into plain data, or the problems that stop it, each at an offset. */
export function yamlData(text: string): YamlData {
  const lineCounter = new LineCounter();
  const { doc, problems } = composeOne(text, lineCounter);
  const converter = new Converter();
  const index: YamlIndex = {
    doc,
    lineCounter,
    pairsOf: (map) => converter.pairs.get(map),
    targetOf: (alias) => converter.targets.get(alias),
  };
  if (problems.length > 0 || doc === undefined) return { ok: false, problems, index };
  let data: unknown;
  try {
    data = converter.convert(doc.contents);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    return { ok: false, problems: [...converter.problems, e.problem], index };
  }
  if (converter.problems.length > 0) return { ok: false, problems: converter.problems, index };
  return { ok: true, data, index };
}
