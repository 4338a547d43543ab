// Over 350 lines on purpose: identity check, download, sha256 verification and the guard on
// stale files keep one on-disk invariant, so they live together.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  writeFile,
  copyFile,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { ProgradeError } from '../errors';
import { proxiedArtifactPath } from './artifact-path';
import { type MlflowClient } from './client';
import { MlflowError } from './errors';
import { notOnnxMessage, parseMlmodel, type Mlmodel } from './mlmodel';
import { resolveModelVersion, type ModelUri } from './uri';

export interface CachedFile {
  /** '/'-separated path relative to the model root. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * What the registry says a version is, read again on every fetch. A version deleted and registered
 * again under the same name and number differs in at least its registration time, and usually in
 * its logged model id and source too, so its files are never taken for the old ones.
 */
export interface VersionIdentity {
  /** The MLflow 3 logged model behind the version, or null. */
  readonly modelId: string | null;
  /** The version's `source` as registered (`models:/m-…`, `runs:/…`, a storage URI). */
  readonly source: string;
  /** Where the registry serves the files from (`get-download-uri`). */
  readonly artifactUri: string;
  readonly runId: string;
  /** Registration time in ms, or null when the server does not say. */
  readonly createdAt: number | null;
}

/** A registered model version, every file of it on local disk and verified. */
export interface FetchedModel {
  readonly name: string;
  readonly version: string;
  /** What the registry named when the files were checked. */
  readonly identity: VersionIdentity;
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
const Identity = z.object({
  modelId: z.string().nullable(),
  source: z.string(),
  artifactUri: z.string(),
  runId: z.string(),
  createdAt: z.number().nullable(),
});
const Manifest = z.object({
  name: z.string(),
  version: z.string(),
  baseUrl: z.string(),
  identity: Identity,
  files: z.array(
    z.object({
      path: z.string(),
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});
type Manifest = z.infer<typeof Manifest>;

interface ListedFile {
  readonly path: string;
  readonly size: number | undefined;
}

const sameIdentity = (a: VersionIdentity, b: VersionIdentity): boolean =>
  a.modelId === b.modelId &&
  a.source === b.source &&
  a.artifactUri === b.artifactUri &&
  a.runId === b.runId &&
  a.createdAt === b.createdAt;

/** The listing the server gives now still names exactly the cached files, at the cached sizes. */
function listingMatches(files: readonly CachedFile[], listing: readonly ListedFile[]): boolean {
  if (files.length !== listing.length) return false;
  const byPath = new Map(files.map((f) => [f.path, f]));
  return listing.every((l) => {
    const f = byPath.get(l.path);
    return f !== undefined && (l.size === undefined || l.size === f.size);
  });
}

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

/** MLflow 3 does not always report a version's `model_id`; its source or artifact URI still names it. */
function loggedModelIdIn(...uris: string[]): string | null {
  for (const uri of uris) {
    const m = /(?:^models:\/|\/models\/)(m-[0-9a-f]+)(?:\/|$)/.exec(uri);
    if (m?.[1]) return m[1];
  }
  return null;
}

/** Folder name of an identity: a hash of every field, so any change in the registry gives a new folder. */
function identityKey(identity: VersionIdentity): string {
  const fields = [
    identity.modelId,
    identity.source,
    identity.artifactUri,
    identity.runId,
    identity.createdAt,
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 24);
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Local, content-addressed copy of registered model versions. Blobs are stored once under
 * `blobs/<sha256>`, written to a temporary name and renamed only when complete, so a crash never
 * leaves half a file under a real name. A version's files are hard links to their blobs in a folder
 * named by what the registry says the version is *now* (its identity: logged model id, source,
 * download URI, registration time), with a manifest of sha256s written last. Every fetch asks the
 * registry again and lists the files, so a version deleted and registered again under the same
 * number, or files replaced at the same source, are downloaded afresh; only bytes whose identity,
 * listing and sha256 all still match are served from disk.
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

  /**
   * Folder of one identity of a version: per server, model name (encoded, so a name cannot form a
   * path), version and a hash of the identity.
   */
  versionDir(name: string, version: string, identity: VersionIdentity): string {
    return join(this.versionParent(name, version), identityKey(identity));
  }

  private versionParent(name: string, version: string): string {
    const server = createHash('sha256').update(this.client.baseUrl).digest('hex').slice(0, 12);
    if (!/^[1-9]\d*$/.test(version)) throw escape(version, 'a model version is a positive number');
    return join(this.root, 'models', server, encodeURIComponent(name), version);
  }

  /** What the registry says the version is now; a version that is not READY cannot be fetched yet. */
  async identify(name: string, version: string): Promise<VersionIdentity> {
    const mv = await this.client.getModelVersion(name, version);
    if (mv.status !== 'READY') {
      throw new ProgradeError(
        mv.status === 'FAILED_REGISTRATION' ? 'MLFLOW_REGISTRATION_FAILED' : 'MLFLOW_VERSION_NOT_READY',
        `Model version ${name}/${version} is ${mv.status}, so its files cannot be fetched yet`,
        mv.status === 'FAILED_REGISTRATION' ? 'terminal' : 'retryable',
        { name, version, status: mv.status },
      );
    }
    const artifactUri = await this.client.getModelVersionDownloadUri(name, version);
    return {
      modelId: mv.modelId ?? loggedModelIdIn(mv.source, artifactUri),
      source: mv.source,
      artifactUri,
      runId: mv.runId,
      createdAt: mv.createdAt ?? null,
    };
  }

  /**
   * `fetchVersion`, except while the registry cannot be reached (unreachable, timed out, 5xx or 429):
   * then a copy already on disk whose manifest still verifies (every file's size and sha256) is
   * served. A gateway restarting during an MLflow outage restores the routing it served before from
   * its own verified files instead of answering 503 until MLflow is back (chaos: restarted gateways
   * stayed unready 46-90 s). The registry is asked first every time, so once it answers, a version
   * registered again under the same number is caught exactly as by `fetchVersion`.
   */
  async fetchVersionOrCached(name: string, version: string): Promise<FetchedModel> {
    try {
      return await this.fetchVersion(name, version);
    } catch (e) {
      if (!(e instanceof MlflowError) || e.retry !== 'retryable') throw e;
      const cached = await this.verifiedCopy(name, version);
      if (!cached) throw e;
      return cached;
    }
  }

  /** The copy of a version on disk whose manifest and files still verify, without asking the registry. */
  private async verifiedCopy(name: string, version: string): Promise<FetchedModel | undefined> {
    const parent = this.versionParent(name, version);
    const entries = await readdir(parent).catch(() => [] as string[]);
    for (const entry of entries) {
      const dir = join(parent, entry);
      let manifest: Manifest;
      try {
        const parsed = Manifest.safeParse(JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')));
        if (!parsed.success) continue;
        manifest = parsed.data;
      } catch {
        continue;
      }
      if (
        manifest.name !== name ||
        manifest.version !== version ||
        manifest.baseUrl !== this.client.baseUrl ||
        entry !== identityKey(manifest.identity) ||
        !(await this.filesVerify(dir, manifest.files))
      )
        continue;
      return this.describe(dir, name, version, manifest.identity, manifest.files);
    }
    return undefined;
  }

  /** Resolves a `models:/name/N` or `models:/name@alias` URI and fetches that version. */
  async fetchUri(uri: string | ModelUri): Promise<FetchedModel> {
    const mv = await resolveModelVersion(this.client, uri);
    return this.fetchVersion(mv.name, mv.version);
  }

  async fetchVersion(name: string, version: string): Promise<FetchedModel> {
    const key = this.versionParent(name, version);
    const running = this.inflight.get(key);
    if (running) return running;
    const fetching = this.fetchInto(name, version).finally(() => this.inflight.delete(key));
    this.inflight.set(key, fetching);
    return fetching;
  }

  private async fetchInto(name: string, version: string): Promise<FetchedModel> {
    const identity = await this.identify(name, version);
    const artifactRoot = proxiedArtifactPath(identity.artifactUri);
    const dir = this.versionDir(name, version, identity);
    await mkdir(dir, { recursive: true });
    await assertInside(this.root, dir, relative(this.root, dir));

    const listing = await this.listRecursive(artifactRoot, '');
    if (listing.length === 0) {
      throw new ProgradeError(
        'MODEL_FILES_MISSING',
        `Model version ${name}/${version} has no files at ${artifactRoot}`,
        'terminal',
        { name, version, artifactRoot },
      );
    }
    let files = await this.readVerifiedManifest(dir, name, version, identity, listing);
    if (!files) {
      files = await this.download(dir, name, version, identity, artifactRoot, listing);
      await this.dropOtherIdentities(dir);
    }
    return this.describe(dir, name, version, identity, files);
  }

  /** Earlier identities of the same version name files the registry no longer serves; their blobs stay. */
  private async dropOtherIdentities(dir: string): Promise<void> {
    const parent = dirname(dir);
    for (const entry of await readdir(parent)) {
      if (entry !== basename(dir)) await rm(join(parent, entry), { recursive: true, force: true });
    }
  }

  private async readVerifiedManifest(
    dir: string,
    name: string,
    version: string,
    identity: VersionIdentity,
    listing: readonly ListedFile[],
  ): Promise<CachedFile[] | undefined> {
    let manifest: Manifest;
    try {
      const parsed = Manifest.safeParse(JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')));
      if (!parsed.success) return undefined;
      manifest = parsed.data;
    } catch {
      return undefined;
    }
    if (
      manifest.name !== name ||
      manifest.version !== version ||
      manifest.baseUrl !== this.client.baseUrl ||
      !sameIdentity(manifest.identity, identity) ||
      !listingMatches(manifest.files, listing)
    )
      return undefined;
    return (await this.filesVerify(dir, manifest.files)) ? manifest.files : undefined;
  }

  /** Every file of a manifest present at its size and sha256 under `dir`. */
  private async filesVerify(dir: string, files: readonly CachedFile[]): Promise<boolean> {
    for (const f of files) {
      const path = safeJoin(dir, f.path);
      try {
        const st = await lstat(path);
        if (!st.isFile() || st.size !== f.size) return false;
        await assertInside(dir, path, f.path);
        // Re-hashing catches a cached file that was edited in place.
        if ((await sha256OfFile(path)) !== f.sha256) return false;
      } catch (e) {
        if (e instanceof ProgradeError) throw e;
        return false;
      }
    }
    return true;
  }

  private async download(
    dir: string,
    name: string,
    version: string,
    identity: VersionIdentity,
    artifactRoot: string,
    listing: readonly ListedFile[],
  ): Promise<CachedFile[]> {
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
    const manifest: Manifest = { name, version, baseUrl: this.client.baseUrl, identity, files };
    const tmp = join(dir, `${MANIFEST}.${randomUUID()}.tmp`);
    await writeFile(tmp, JSON.stringify(manifest, null, 2));
    await rename(tmp, join(dir, MANIFEST));
    return files;
  }

  /** Every file under `root/sub`, paths relative to `root`, each name checked before use. */
  private async listRecursive(root: string, sub: string): Promise<ListedFile[]> {
    const entries = await this.client.listArtifacts(sub === '' ? root : `${root}/${sub}`);
    const out: ListedFile[] = [];
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
    identity: VersionIdentity,
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
      identity,
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
    if (onnx.length === 0) {
      // A pickled scikit-learn or native XGBoost model: say so, and how to log it as ONNX.
      throw new ProgradeError('MODEL_NOT_ONNX', notOnnxMessage(mlmodel, `${name}/${version}`), 'terminal', {
        name,
        version,
        flavors: Object.keys(mlmodel.raw.flavors),
      });
    }
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
