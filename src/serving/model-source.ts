import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ProgradeError } from '../errors';
import { NAME_PATTERN } from './routing';

/** Where a version's ONNX bytes are: a file on disk, or bytes in memory. */
export type ModelArtifact = { readonly sha256: string } & (
  { readonly onnxPath: string } | { readonly bytes: Uint8Array }
);

/** How the gateway obtains the bytes of a model version. */
export interface ModelSource {
  /** Throws a ProgradeError `SERVING_VERSION_NOT_FOUND` when the version does not exist. */
  load(model: string, version: string): Promise<ModelArtifact>;
  /** Whether the model exists at all: tells 404 (unknown) from 503 (known, not routed yet). */
  hasModel(model: string): Promise<boolean>;
  /** For logs: where versions come from. */
  readonly description: string;
}

function checkName(kind: 'model' | 'version', value: string): void {
  if (!NAME_PATTERN.test(value))
    throw new ProgradeError(
      'SERVING_NAME_INVALID',
      `${kind} name '${value}' has characters outside [A-Za-z0-9._-]`,
      'terminal',
      { [kind]: value },
    );
}

/** Versions laid out as `<root>/<model>/<version>/model.onnx`. */
export class DirectoryModelSource implements ModelSource {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `directory ${root}`;
  }

  async load(model: string, version: string): Promise<ModelArtifact> {
    checkName('model', model);
    checkName('version', version);
    const onnxPath = path.join(this.root, model, version, 'model.onnx');
    let bytes: Buffer;
    try {
      bytes = await readFile(onnxPath);
    } catch (e) {
      throw new ProgradeError(
        'SERVING_VERSION_NOT_FOUND',
        `no model file for ${model} version ${version} at ${onnxPath}`,
        'terminal',
        { model, version, onnxPath },
        { cause: e },
      );
    }
    return { onnxPath, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  async hasModel(model: string): Promise<boolean> {
    if (!NAME_PATTERN.test(model)) return false;
    try {
      return (await stat(path.join(this.root, model))).isDirectory();
    } catch {
      return false;
    }
  }
}
