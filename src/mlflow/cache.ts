import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, lstat, mkdir, readFile, realpath, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { ProgradeError } from '../errors';
import { proxiedArtifactPath } from './artifact-path';
import { type MlflowClient } from './client';
import { parseMlmodel, type Mlmodel } from './mlmodel';
import { resolveModelVersion, type ModelUri } from './uri';

export interface CachedFile {
  /** '/'-separated path relative to the model root. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** A registered model version, every file of it on local disk and verified. */
export interface FetchedModel {
  readonly name: string;
  readonly version: string;
  /** Folder holding the files at their artifact-relative paths (external data sits beside the .onnx). */
  readonly dir: string;
  readonly files: readonly CachedFile[];
  /** Absolute path of the ONNX file. */
  readonly onnxPath: string;
  /** sha256 of the ONNX file. */
  readonly sha256: string;
  readonly mlmodel: Mlmodel;
}

/** What the cache has pulled from the server since it was made; tests assert on it. */
export interface CacheStats {
  filesDownloaded: number;
  bytesDownloaded: number;
}

const MANIFEST = '.prograde-manifest.json';
const Manifest = z.object({
  name: z.string(),
  version: z.string(),
  baseUrl: z.string(),
  files: z.array(
    z.object({
      path: z.string(),
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});
type Manifest = z.infer<typeof Manifest>;

function escape(path: string, why: string, details: Record<string, unknown> = {}): ProgradeError {
  return new ProgradeError(
    'ARTIFACT_PATH_ESCAPE',
    `Refusing artifact path ${JSON.stringify(path)}: ${why}`,
    'terminal',
    { path, ...details },
  );
}

/** A listing entry must be one plain name; anything else could place a file outside the model folder. */
export function checkEntryName(name: string): string {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('\0')
  ) {
    throw escape(name, 'an artifact listing entry must be a single file or folder name');
  }
  return name;
}

/** `root/rel` when it stays strictly inside `root`; `rel` is '/'-separated. */
export function safeJoin(root: string, rel: string): string {
  if (isAbsolute(rel) || rel.startsWith('/') || /^[a-zA-Z]:/.test(rel))
    throw escape(rel, 'absolute paths are not allowed', { root });
  const parts = rel.split('/');
  if (parts.some((p) => p === '..' || p === '' || p.includes('\\') || p.includes('\0'))) {
    throw escape(rel, 'it climbs out of the model folder', { root });
  }
  const full = resolve(root, ...parts);
  if (!full.startsWith(resolve(root) + sep))
    throw escape(rel, 'it resolves outside the model folder', { root });
  return full;
}

/** Throws unless `path`, with every symlink resolved, lies inside `root` (itself resolved). */
async function assertInside(root: string, path: string, shownAs: string): Promise<void> {
  const realRoot = await realpath(root);
  const real = await realpath(path);
  if (real !== realRoot && !real.startsWith(realRoot + sep)) {
    throw escape(shownAs, `a symbolic link leads to ${real}, outside ${realRoot}`, {
      root: realRoot,
      resolved: real,
    });
  }
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Local, content-addressed copy of registered model versions. Blobs are stored once under
 * `blobs/<sha256>`, written to a temporary name and renamed only when complete, so a crash never
 * leaves half a file under a real name. Each version's folder holds hard links to its blobs at their
 * artifact paths plus a manifest written last; a version whose manifest and files check out is served
 * without touching the network.
 */
export class ModelCache {
  private readonly statsValue: CacheStats = { filesDownloaded: 0, bytesDownloaded: 0 };
  private readonly root: string;
  /** Fetches under way, so concurrent callers of one version share one download. */
  private readonly inflight = new Map<string, Promise<FetchedModel>>();

  constructor(
    private readonly client: MlflowClient,
    dir: string,
  ) {
    this.root = resolve(dir);
  }

  get stats(): Readonly<CacheStats> {
    return { ...this.statsValue };
  }

  /** Folder a version lives in: one per server, model name (encoded, so a name cannot form a path) and version. */
  versionDir(name: string, version: string): string {
    const server = createHash('sha256').update(this.client.baseUrl).digest('hex').slice(0, 12);
    if (!/^[1-9]\d*$/.test(version)) throw escape(version, 'a model version is a positive number');
    return join(this.root, 'models', server, encodeURIComponent(name), version);
  }

  /** Resolves a `models:/name/N` or `models:/name@alias` URI and fetches that version. */
  async fetchUri(uri: string | ModelUri): Promise<FetchedModel> {
    const mv = await resolveModelVersion(this.client, uri);
    return this.fetchVersion(mv.name, mv.version);
  }

  async fetchVersion(name: string, version: string): Promise<FetchedModel> {
    const dir = this.versionDir(name, version);
    const running = this.inflight.get(dir);
    if (running) return running;
    const fetching = this.fetchInto(dir, name, version).finally(() => this.inflight.delete(dir));
    this.inflight.set(dir, fetching);
    return fetching;
  }

  private async fetchInto(dir: string, name: string, version: string): Promise<FetchedModel> {
    await mkdir(dir, { recursive: true });
    await assertInside(this.root, dir, relative(this.root, dir));

    const cached = await this.readVerifiedManifest(dir, name, version);
    const files = cached ?? (await this.download(dir, name, version));
    return this.describe(dir, name, version, files);
  }

  private async readVerifiedManifest(
    dir: string,
    name: string,
    version: string,
  ): Promise<CachedFile[] | undefined> {
    let manifest: Manifest;
    try {
      const parsed = Manifest.safeParse(JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')));
      if (!parsed.success) return undefined;
      manifest = parsed.data;
    } catch {
      return undefined;
    }
    if (manifest.name !== name || manifest.version !== version || manifest.baseUrl !== this.client.baseUrl)
      return undefined;
    for (const f of manifest.files) {
      const path = safeJoin(dir, f.path);
      try {
        const st = await lstat(path);
        if (!st.isFile() || st.size !== f.size) return undefined;
        await assertInside(dir, path, f.path);
        // Re-hashing catches a cached file that was edited in place.
        if ((await sha256OfFile(path)) !== f.sha256) return undefined;
      } catch (e) {
        if (e instanceof ProgradeError) throw e;
        return undefined;
      }
    }
    return manifest.files;
  }

  private async download(dir: string, name: string, version: string): Promise<CachedFile[]> {
    const mv = await this.client.getModelVersion(name, version);
    if (mv.status !== 'READY') {
      throw new ProgradeError(
        mv.status === 'FAILED_REGISTRATION' ? 'MLFLOW_REGISTRATION_FAILED' : 'MLFLOW_VERSION_NOT_READY',
        `Model version ${name}/${version} is ${mv.status}, so its files cannot be fetched yet`,
        mv.status === 'FAILED_REGISTRATION' ? 'terminal' : 'retryable',
        { name, version, status: mv.status },
      );
    }
    const artifactRoot = proxiedArtifactPath(await this.client.getModelVersionDownloadUri(name, version));
    const listing = await this.listRecursive(artifactRoot, '');
    if (listing.length === 0) {
      throw new ProgradeError(
        'MODEL_FILES_MISSING',
        `Model version ${name}/${version} has no files at ${artifactRoot}`,
        'terminal',
        {
          name,
          version,
          artifactRoot,
        },
      );
    }
    await rm(join(dir, MANIFEST), { force: true });
    const files: CachedFile[] = [];
    for (const entry of listing) {
      const target = safeJoin(dir, entry.path);
      await mkdir(dirname(target), { recursive: true });
      await assertInside(dir, dirname(target), entry.path);
      const blob = await this.fetchBlob(`${artifactRoot}/${entry.path}`, entry.size);
      await this.place(blob.file, target);
      files.push({ path: entry.path, size: blob.size, sha256: blob.sha256 });
    }
    const manifest: Manifest = { name, version, baseUrl: this.client.baseUrl, files };
    const tmp = join(dir, `${MANIFEST}.${randomUUID()}.tmp`);
    await writeFile(tmp, JSON.stringify(manifest, null, 2));
    await rename(tmp, join(dir, MANIFEST));
    return files;
  }

  /** Every file under `root/sub`, paths relative to `root`, each name checked before use. */
  private async listRecursive(
    root: string,
    sub: string,
  ): Promise<{ path: string; size: number | undefined }[]> {
    const entries = await this.client.listArtifacts(sub === '' ? root : `${root}/${sub}`);
    const out: { path: string; size: number | undefined }[] = [];
    for (const entry of entries) {
      const rel = sub === '' ? checkEntryName(entry.path) : `${sub}/${checkEntryName(entry.path)}`;
      if (entry.isDir) out.push(...(await this.listRecursive(root, rel)));
      else out.push({ path: rel, size: entry.size });
    }
    return out;
  }

  /** Downloads to a temporary name, hashing as bytes arrive, then renames into `blobs/<sha256>`. */
  private async fetchBlob(
    artifactPath: string,
    expectedSize: number | undefined,
  ): Promise<{ file: string; size: number; sha256: string }> {
    const blobs = join(this.root, 'blobs');
    await mkdir(blobs, { recursive: true });
    const tmp = join(blobs, `.${randomUUID()}.partial`);
    try {
      const got = await this.client.downloadArtifactToFile(artifactPath, tmp);
      this.statsValue.filesDownloaded += 1;
      this.statsValue.bytesDownloaded += got.size;
      if (expectedSize !== undefined && got.size !== expectedSize) {
        throw new ProgradeError(
          'ARTIFACT_SIZE_MISMATCH',
          `Artifact ${artifactPath} arrived with ${got.size} bytes; the server listed ${expectedSize}`,
          'retryable',
          { artifactPath, size: got.size, expectedSize },
        );
      }
      const file = join(blobs, got.sha256);
      await rename(tmp, file);
      return { file, ...got };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Puts a blob at `target` atomically: a hard link (or copy across devices) under a temp name, then rename. */
  private async place(blob: string, target: string): Promise<void> {
    const tmp = `${target}.${randomUUID()}.tmp`;
    try {
      await link(blob, tmp);
    } catch {
      await copyFile(blob, tmp);
    }
    await rename(tmp, target);
  }

  private async describe(
    dir: string,
    name: string,
    version: string,
    files: readonly CachedFile[],
  ): Promise<FetchedModel> {
    const mlmodelFile = files.find((f) => f.path === 'MLmodel');
    if (!mlmodelFile) {
      throw new ProgradeError(
        'MLMODEL_MISSING',
        `Model version ${name}/${version} has no MLmodel file`,
        'terminal',
        { name, version },
      );
    }
    const mlmodel = parseMlmodel(await readFile(safeJoin(dir, 'MLmodel'), 'utf8'), `of ${name}/${version}`);
    const onnxFile = this.findOnnx(files, mlmodel, name, version);
    return {
      name,
      version,
      dir,
      files,
      onnxPath: safeJoin(dir, onnxFile.path),
      sha256: onnxFile.sha256,
      mlmodel,
    };
  }

  private findOnnx(
    files: readonly CachedFile[],
    mlmodel: Mlmodel,
    name: string,
    version: string,
  ): CachedFile {
    if (mlmodel.onnxData !== undefined) {
      const want = mlmodel.onnxData.replace(/^\.\//, '');
      const file = files.find((f) => f.path === want);
      if (!file) {
        throw new ProgradeError(
          'ONNX_FILE_MISSING',
          `MLmodel of ${name}/${version} names ${want}, which is not among its files`,
          'terminal',
          {
            name,
            version,
            data: want,
          },
        );
      }
      return file;
    }
    const onnx = files.filter((f) => f.path.endsWith('.onnx'));
    if (onnx.length !== 1 || !onnx[0]) {
      throw new ProgradeError(
        'ONNX_FILE_MISSING',
        `Model version ${name}/${version} has no onnx flavor and ${onnx.length} .onnx files; expected exactly one`,
        'terminal',
        { name, version, onnxFiles: onnx.map((f) => f.path) },
      );
    }
    return onnx[0];
  }
}
