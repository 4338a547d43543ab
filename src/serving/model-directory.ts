import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ProgradeError } from '../errors';
import { NAME_PATTERN } from './routing';

/** Writes one version in the layout `DirectoryModelSource` reads: `<root>/<model>/<version>/model.onnx`. */
export async function writeModelVersion(
  root: string,
  model: string,
  version: string,
  bytes: Uint8Array,
): Promise<string> {
  for (const [kind, value] of [
    ['model', model],
    ['version', version],
  ] as const) {
    if (!NAME_PATTERN.test(value))
      throw new ProgradeError(
        'SERVING_NAME_INVALID',
        `${kind} name '${value}' has characters outside [A-Za-z0-9._-]`,
        'terminal',
        { [kind]: value },
      );
  }
  const dir = path.join(root, model, version);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  await writeFile(file, bytes);
  return file;
}
