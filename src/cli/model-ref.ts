import { InvalidInputError } from '../errors';

/** Parses `<model>@<version>` as the CLI takes it, e.g. `fraud-detector@12`. */
export function parseModelRef(ref: string): { model: string; version: string } {
  const m = /^(.+)@(\d+)$/.exec(ref);
  if (!m?.[1] || !m[2])
    throw new InvalidInputError(`'${ref}' is not <model>@<version>, e.g. fraud-detector@12`);
  return { model: m[1], version: m[2] };
}
