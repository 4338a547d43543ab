import { HttpError, quoted } from './http-util';
import { NAME_PATTERN } from './routing';

/** A model or version name, checked against the safe alphabet (never decoded here). */
export function checkName(value: string, what: string): string {
  if (!NAME_PATTERN.test(value))
    throw new HttpError(
      400,
      'SERVING_NAME_INVALID',
      `${what} ${quoted(value)} must be 1–128 characters from [A-Za-z0-9._-], starting with a letter or digit`,
    );
  return value;
}

/** A path segment: percent-decoded exactly once, then checked. */
export function pathName(raw: string, what: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'SERVING_NAME_INVALID', `${what} ${quoted(raw)} is not valid percent-encoding`);
  }
  return checkName(decoded, what);
}
