/**
 * An RFC 4180 record reader: comma-separated fields, optional double quotes (a quoted field may hold
 * commas, newlines and `""` for a quote), LF or CRLF line ends, a leading BOM ignored. Each record
 * carries the physical line it starts on so errors can point at it.
 */
export interface CsvRecord {
  /** 1-based line number of the record's first character. */
  readonly line: number;
  readonly fields: readonly string[];
}

export class CsvSyntaxError extends Error {
  override readonly name = 'CsvSyntaxError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** Yields records lazily, so a caller that wants only the first rows stops reading early. */
export function* csvRecords(text: string): Generator<CsvRecord> {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let endOfRecord = false;
    while (!endOfRecord) {
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n)
            throw new CsvSyntaxError(`a quoted field opened on line ${quoteLine} is never closed`, quoteLine);
          const ch = text[i];
          if (ch === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
      }
      // Unquoted text (or anything after a closing quote) runs to the next comma or line end.
      while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
      fields.push(field);
      field = '';
      if (i >= n) {
        endOfRecord = true;
      } else if (text[i] === ',') {
        i++;
      } else {
        if (text[i] === '\r') i++;
        if (text[i] === '\n') i++;
        line++;
        endOfRecord = true;
      }
    }
    // A blank line (often the last one) is not a record of one empty field.
    if (fields.length === 1 && fields[0] === '') continue;
    yield { line: startLine, fields };
  }
}
