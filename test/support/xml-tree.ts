/**
 * A strict little XML reader for tests (no XML library is a dependency): it accepts only well-formed
 * documents of elements, attributes, text and the five predefined entities, and throws on anything
 * else (a stray `<` or `&`, an unclosed or mismatched tag, a character XML 1.0 forbids).
 */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function decode(raw: string, where: string): string {
  if (raw.includes('<')) throw new Error(`'<' in ${where}`);
  return raw.replace(/&([a-z]+);|&/g, (m, name: string | undefined) => {
    const v = name === undefined ? undefined : ENTITY[name];
    if (v === undefined) throw new Error(`bad entity ${m} in ${where}`);
    return v;
  });
}

export function parseXml(xml: string): XmlElement {
  if (FORBIDDEN.test(xml)) throw new Error('a character XML 1.0 forbids');
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const token =
    /<\/([A-Za-z][\w.-]*)\s*>|<([A-Za-z][\w.-]*)((?:\s+[A-Za-z][\w.-]*="[^"]*")*)\s*(\/?)>|([^<]+)|(<)/gy;
  const root: XmlElement = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  let m: RegExpExecArray | null;
  while ((m = token.exec(body)) !== null) {
    const top = stack[stack.length - 1] as XmlElement;
    if (m[6]) throw new Error(`stray '<' at ${m.index}`);
    if (m[1]) {
      if (top.name !== m[1]) throw new Error(`</${m[1]}> closes <${top.name}>`);
      stack.pop();
    } else if (m[2]) {
      const attrs: Record<string, string> = {};
      for (const a of (m[3] ?? '').matchAll(/([A-Za-z][\w.-]*)="([^"]*)"/g))
        attrs[a[1] as string] = decode(a[2] as string, `attribute ${a[1]}`);
      const el: XmlElement = { name: m[2], attrs, children: [], text: '' };
      top.children.push(el);
      if (!m[4]) stack.push(el);
    } else if (m[5]) {
      top.text += decode(m[5], `<${top.name}>`);
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]?.name}> is never closed`);
  const [doc, ...rest] = root.children;
  if (!doc || rest.length > 0 || root.text.trim() !== '') throw new Error('not exactly one root element');
  return doc;
}
