/**
 * Escaping for the HTML report. Everything a report holds can come from a user (model names, reasons,
 * approver names, group values of a dataset column), so every piece of text goes through `esc`, in
 * element content and in attribute values alike: the report must never run or load anything.
 */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text safe in element content and in quoted attribute values; control characters are dropped. */
export function esc(text: string | number | undefined | null): string {
  return String(text ?? '')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    .replace(/[&<>"'`]/g, (c) => ENTITIES[c] ?? c);
}

/** A number as SVG coordinates want it: finite, short. */
export function coord(x: number): string {
  return Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0';
}

/** A measured value for people: integers as they are, else 4 significant digits. */
export function fmt(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 || Math.abs(v) < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}
