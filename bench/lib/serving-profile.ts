/**
 * Where the gateway's event loop spends its time under wrk load: starts the gateway with
 * `node --cpu-prof`, drives it with wrk, stops it (the profile is written at exit) and splits the
 * main thread's samples into HTTP, JSON parse + validation, routing, the worker-thread hop, ORT,
 * encoding, statistics, GC, idle. Each sample goes to the deepest frame on its stack that belongs to
 * a category, so `Buffer.toString` called by the JSON encoder counts as encoding.
 *
 *   npx tsx bench/lib/serving-profile.ts <label> [seconds per point]
 *
 * Writes bench/results/serving-profile-<label>.json; bench/serving-compare.ts renders every such file
 * into its section of bench/RESULTS.md.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { toolPaths } from '../../src/devstack/tools';
import { machineInfo, type MachineInfo } from './machine';
import { BENCH_DIR } from './report';
import { bodiesFor, type BodyKey } from './serving-bodies';
import { prepareModel, routeOf, startGateway, ServingModel, type Protocol } from './serving-systems';
import { ensureWrk, runWrk, writePostScript } from './serving-wrk';

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
}

export const CATEGORIES = [
  'HTTP (node:http, sockets, streams)',
  'JSON parse + validation',
  'routing + gateway logic',
  'worker-thread hop',
  'ORT (main thread)',
  'encoding (JSON answer)',
  'statistics, metrics, logs',
  'garbage collection',
  'other JS / native',
  'idle',
] as const;
export type Category = (typeof CATEGORIES)[number];

const RULES: readonly (readonly [Category, (fn: string, url: string) => boolean])[] = [
  ['garbage collection', (fn) => fn === '(garbage collector)'],
  ['idle', (fn) => fn === '(idle)'],
  [
    'statistics, metrics, logs',
    (_fn, url) =>
      /window-stats|stats-store|metrics\.ts|prediction-log|output-scores|score-output|pino/.test(url),
  ],
  [
    'encoding (JSON answer)',
    (fn, url) =>
      fn === 'stringify' ||
      (/codecs\/(invocations|oip-v2)\.ts/.test(url) && /^encode/.test(fn)) ||
      (/tensors\.ts/.test(url) && /^(nest|toNumbers)$/.test(fn)) ||
      (/http-util\.ts/.test(url) && /^(sendJson|sendError)$/.test(fn)),
  ],
  [
    'JSON parse + validation',
    (fn, url) =>
      (fn === 'parse' && url === '') ||
      /zod|json-body|fast-json|request-tensors|codecs\/|body-parser/.test(url) ||
      (fn === 'decode' && url === ''),
  ],
  ['ORT (main thread)', (_fn, url) => /onnxruntime|inline-runner|ort-native/.test(url)],
  [
    'worker-thread hop',
    // The inline lane is the event loop's batcher: the hop it replaces.
    (_fn, url) =>
      /worker-pool|batcher|inline-lane|node:internal\/worker|worker_threads|messageport/i.test(url),
  ],
  [
    'routing + gateway logic',
    (_fn, url) =>
      /src\/serving\/(server|data-plane|route-table|api-routes|routing|access|security|request-id|admission|gateway|names|version-host|model-lookup|routing-state|rate-limit)\.ts/.test(
        url,
      ),
  ],
  [
    'HTTP (node:http, sockets, streams)',
    (fn, url) =>
      /node:(_http|http|net|stream|internal\/(streams|http|net|stream_base|js_stream)|_stream)/.test(url) ||
      /^(writev|writeBuffer|writeUtf8String|onStreamRead|parserOnHeadersComplete|execute)$/.test(fn),
  ],
];

export interface ProfileBreakdown {
  readonly totalMs: number;
  readonly requests: number;
  readonly shares: Record<Category, number>;
  /** Main-thread CPU (not idle) per answered request, microseconds. */
  readonly busyUsPerRequest: number;
  readonly topSelf: readonly { readonly fn: string; readonly share: number }[];
}

/**
 * `window`: the measured run on the monotonic clock (µs), which V8's sample timestamps share on
 * Linux; samples outside it (start-up, loading, warm-up) are left out. Without a sample inside the
 * window every sample counts.
 */
export function breakdown(
  profile: CpuProfile,
  requests: number,
  window: readonly [number, number] = [0, Number.POSITIVE_INFINITY],
): ProfileBreakdown {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const own = (n: CpuProfileNode): Category | undefined =>
    RULES.find(([, test]) => test(n.callFrame.functionName, n.callFrame.url))?.[0];
  const memo = new Map<number, Category>();
  const categoryOf = (id: number): Category => {
    const cached = memo.get(id);
    if (cached) return cached;
    let found: Category = 'other JS / native';
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      const c = node ? own(node) : undefined;
      if (c) {
        found = c;
        break;
      }
    }
    memo.set(id, found);
    return found;
  };
  const time = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const self = new Map<string, number>();
  let total = 0;
  const stamps: number[] = [];
  let at = profile.startTime;
  for (const d of profile.timeDeltas) stamps.push((at += d));
  const inside = stamps.some((t) => t >= window[0] && t <= window[1]);
  profile.samples.forEach((id, i) => {
    const t = stamps[i] ?? 0;
    if (inside && (t < window[0] || t > window[1])) return;
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    time[categoryOf(id)] += dt;
    const n = byId.get(id);
    const key = n ? `${n.callFrame.functionName || '(anonymous)'} ${path.basename(n.callFrame.url)}` : '?';
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const busy = total - time.idle;
  const shares = Object.fromEntries(
    CATEGORIES.map((c) => [c, c === 'idle' ? time[c] / total : time[c] / Math.max(busy, 1e-9)]),
  ) as Record<Category, number>;
  const topSelf = [...self.entries()]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([fn, ms]) => ({ fn, share: ms / Math.max(busy, 1e-9) }));
  return {
    totalMs: total,
    requests,
    shares,
    busyUsPerRequest: (busy * 1000) / Math.max(1, requests),
    topSelf,
  };
}

export interface ProfilePoint {
  readonly body: BodyKey;
  readonly protocol: Protocol;
  readonly connections: number;
}

export const PROFILE_POINTS: readonly ProfilePoint[] = [
  { body: '1 row', protocol: 'invocations', connections: 1 },
  { body: '1 row', protocol: 'invocations', connections: 64 },
  { body: '100 rows', protocol: 'invocations', connections: 8 },
  { body: '1 row', protocol: 'v2', connections: 64 },
];

export interface ProfileResult {
  readonly label: string;
  readonly at: string;
  readonly machine: MachineInfo;
  readonly loadAverageEnd: number;
  readonly secondsPerPoint: number;
  readonly points: readonly (ProfilePoint & { readonly throughput: number } & ProfileBreakdown)[];
}

const cachedModelDir = path.join(os.tmpdir(), 'prograde-serving-compare-model');

export async function cachedModel(): Promise<ServingModel> {
  const file = path.join(cachedModelDir, 'model.json');
  if (existsSync(file)) return ServingModel.parse(JSON.parse(await readFile(file, 'utf8')));
  const model = await prepareModel(toolPaths().python, cachedModelDir);
  await writeFile(file, JSON.stringify(model));
  return model;
}

/** One gateway process per point, so each profile holds that point's load only. */
async function profilePoint(
  model: ServingModel,
  point: ProfilePoint,
  seconds: number,
  scriptDir: string,
): Promise<ProfilePoint & { throughput: number } & ProfileBreakdown> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prograde-cpuprof-'));
  try {
    const gateway = await startGateway(model, { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir] });
    let throughput = 0;
    let requests = 0;
    const windowUs: [number, number] = [0, Number.POSITIVE_INFINITY];
    try {
      const bodies = bodiesFor(model);
      const bodyFile = path.join(scriptDir, `${point.protocol}-${point.body.replace(' ', '')}.json`);
      await writeFile(bodyFile, bodies[point.body][point.protocol]);
      const script = await writePostScript(scriptDir, path.basename(bodyFile, '.json'), bodyFile);
      const url = `${gateway.url}${routeOf(point.protocol)}`;
      await runWrk({ url, script, connections: point.connections, durationSec: 1 });
      windowUs[0] = Number(process.hrtime.bigint() / 1000n);
      const run = await runWrk({ url, script, connections: point.connections, durationSec: seconds });
      windowUs[1] = Number(process.hrtime.bigint() / 1000n);
      throughput = run.throughput;
      requests = run.requests;
    } finally {
      await gateway.stop();
    }
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
    // Main thread: thread id 0 in Node's file name CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile.
    const main = files.find((f) => f.split('.')[4] === '0');
    if (!main) throw new Error(`no main-thread profile among ${files.join(', ')}`);
    const text = await readFile(path.join(dir, main), 'utf8');
    const keep = process.env.SERVING_PROFILE_KEEP;
    if (keep)
      await writeFile(
        path.join(keep, `${point.protocol}-${point.body.replace(' ', '')}-c${point.connections}.cpuprofile`),
        text,
      );
    const profile = JSON.parse(text) as CpuProfile;
    return { ...point, throughput, ...breakdown(profile, requests, windowUs) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const label = process.argv[2] ?? 'now';
  const seconds = Number(process.argv[3] ?? 5);
  ensureWrk(path.resolve(BENCH_DIR, '..'));
  const machine = machineInfo();
  const model = await cachedModel();
  const scriptDir = await mkdtemp(path.join(os.tmpdir(), 'prograde-serving-profile-'));
  const points = [];
  try {
    const only = process.env.SERVING_PROFILE_POINTS?.split(',').map(Number);
    for (const point of PROFILE_POINTS.filter((_, i) => !only || only.includes(i))) {
      const p = await profilePoint(model, point, seconds, scriptDir);
      console.log(
        `${p.body} ${p.protocol} c=${p.connections}: ${p.throughput.toFixed(0)} req/s, main thread ${p.busyUsPerRequest.toFixed(0)} µs/req`,
      );
      for (const c of CATEGORIES) console.log(`  ${c.padEnd(36)} ${(100 * p.shares[c]).toFixed(1)} %`);
      console.log(
        `  top: ${p.topSelf
          .slice(0, 8)
          .map((t) => `${t.fn} ${(100 * t.share).toFixed(1)}%`)
          .join(', ')}`,
      );
      points.push(p);
    }
  } finally {
    await rm(scriptDir, { recursive: true, force: true });
  }
  const result: ProfileResult = {
    label,
    at: new Date().toISOString(),
    machine,
    loadAverageEnd: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    secondsPerPoint: seconds,
    points,
  };
  await mkdir(path.join(BENCH_DIR, 'results'), { recursive: true });
  const out = path.join(BENCH_DIR, 'results', `serving-profile-${label}.json`);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
