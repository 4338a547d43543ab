import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** Hex SHA-256 of a dataset file's bytes: the identity gate evidence records for "which data". */
export async function datasetSha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
