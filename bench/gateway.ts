/**
 * Serving gateway under load. The gateway runs in a child process (bench/lib/gateway-child.ts) with
 * DirectoryModelSource and sample models; this process generates closed-loop keep-alive load on
 * 127.0.0.1 and reads the child's memory from /proc.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GatewayAdminClient } from '../src/serving/admin-client';
import type { RoutingPut } from '../src/serving/desired-state';
import { writeModelVersion } from '../src/serving/model-directory';
import { sampleDataset } from '../src/samples/datasets';
import { SAMPLE_CONTRACT, sampleModel } from '../src/samples/models';
import { TsChild } from './lib/child';
import { ChildReady, type GatewayChildConfig } from './lib/gateway-child';
import { runLoad, type LoadResult } from './lib/load-generator';
import { machineInfo, processCpuMs, processMemory } from './lib/machine';
import { runRecord, type BenchResult, type Table } from './lib/report';
import {
  formatSpread,
  MIB,
  spreadOf,
  summarizeLatencies,
  type LatencySummary,
  type Spread,
} from './lib/summary';

const MODEL = 'fraud';
const CONCURRENCY = [1, 8, 32, 64] as const;
const REPEATS = 5;
const BOUNDS = { maxRequests: 8_000, maxDurationMs: 2_500 } as const;
const WARMUP = { concurrency: 16, maxRequests: 1_000, maxDurationMs: 1_000 } as const;
const BATCH_WAIT_MS = 2;

interface Scenario {
  readonly name: string;
  readonly what: string;
  readonly maxBatchSize: number;
  readonly routing: Omit<RoutingPut, 'generation'>;
}

// Versions: 1 = good, 2 = good with jittered weights (a candidate), 3 = slow (same scores, ~heavier).
const SCENARIOS: readonly Scenario[] = [
  {
    name: 'stable',
    what: 'stable only, micro-batching on (maxBatchSize 64)',
    maxBatchSize: 64,
    routing: { stable: { version: '1' } },
  },
  {
    name: 'stable-nobatch',
    what: 'stable only, micro-batching off (maxBatchSize 1)',
    maxBatchSize: 1,
    routing: { stable: { version: '1' } },
  },
  {
    name: 'canary-50',
    what: 'stable + canary at 50 %',
    maxBatchSize: 64,
    routing: { stable: { version: '1' }, canary: { version: '2', weight: 50 } },
  },
  {
    name: 'shadow-slow-100',
    what: "stable + shadow at 100 % ('slow' model as shadow)",
    maxBatchSize: 64,
    routing: { stable: { version: '1' }, shadow: { version: '3', sampleRate: 100 } },
  },
];

/** One load run plus the CPU time the gateway process and the load generator used during it. */
interface RunRecord extends LoadResult {
  readonly gatewayCpuMs: number;
  readonly generatorCpuMs: number;
}

interface ScenarioRun {
  readonly scenario: string;
  readonly runs: Record<number, RunRecord[]>;
  readonly memory: { readonly idle: number; readonly after: number; readonly peak: number };
  /** Counters scraped from the gateway's /metrics after the load. */
  readonly counters: Readonly<Record<string, number>>;
  /**
   * Inference latency inside the gateway (queue + batch wait + worker run) per variant, from the
   * admin stats' latency samples: for the shadow, how long the work the caller did NOT wait for took.
   */
  readonly inGateway: Readonly<Record<string, LatencySummary & { samples: number }>>;
}

function requestBody(): Buffer {
  const row = sampleDataset({ rows: 1, seed: 7 }).features;
  const input = SAMPLE_CONTRACT.inputs[0];
  if (!input) throw new Error('the sample contract has no input');
  return Buffer.from(
    JSON.stringify({
      inputs: [{ name: input.name, datatype: 'FP32', shape: [1, 12], data: Array.from(row) }],
    }),
  );
}

/** Sums of Prometheus series whose name and labels match, e.g. requests per variant. */
function scrapeCounters(text: string): Record<string, number> {
  const sum = (pattern: RegExp): number =>
    text
      .split('\n')
      .filter((l) => pattern.test(l))
      .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    stableRequests: sum(/^prograde_gateway_requests_total\{[^}]*variant="stable"/),
    canaryRequests: sum(/^prograde_gateway_requests_total\{[^}]*variant="canary"/),
    shadowCompleted: sum(/^prograde_gateway_requests_total\{[^}]*variant="shadow"/),
    shadowDropped: sum(/^prograde_gateway_shadow_dropped_total/),
    modelErrors: sum(/^prograde_gateway_errors_total/),
  };
}

async function checkOneAnswer(url: string, body: Buffer): Promise<void> {
  const res = await fetch(`${url}/v2/models/${MODEL}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const json = (await res.json()) as { outputs?: { data?: unknown[] }[] };
  const value = json.outputs?.[0]?.data?.[0];
  if (res.status !== 200 || typeof value !== 'number' || !(value > 0 && value < 1))
    throw new Error(`gateway answered ${res.status} ${JSON.stringify(json)}; expected one probability`);
}

async function runScenario(
  scenario: Scenario,
  modelsRoot: string,
  body: Buffer,
  log: (line: string) => void,
): Promise<ScenarioRun> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), `prograde-bench-state-${scenario.name}-`));
  const token = randomBytes(16).toString('hex');
  const config: GatewayChildConfig = {
    modelsRoot,
    stateDir,
    token,
    maxBatchSize: scenario.maxBatchSize,
    maxWaitMs: BATCH_WAIT_MS,
  };
  const child = new TsChild(path.join(__dirname, 'lib', 'gateway-child.ts'), [JSON.stringify(config)]);
  try {
    const { url } = await child.next(ChildReady, 60_000);
    const admin = new GatewayAdminClient({ baseUrl: url, token });
    const view = await admin.putRouting(MODEL, { generation: 1, ...scenario.routing }, 'bench');
    // The PUT returns once every referenced version has loaded and warmed up; check that it says so.
    if (Object.values(view.versions).some((v) => v.status !== 'ready'))
      throw new Error(`routing applied but not every version is ready: ${JSON.stringify(view)}`);
    await checkOneAnswer(url, body);
    const idle = processMemory(child.pid).rss;

    const load = async (
      concurrency: number,
      bounds: { maxRequests: number; maxDurationMs: number },
    ): Promise<RunRecord> => {
      const gatewayCpu = processCpuMs(child.pid);
      const generatorCpu = process.cpuUsage();
      const result = await runLoad({
        url: `${url}/v2/models/${MODEL}/infer`,
        method: 'POST',
        body,
        concurrency,
        ...bounds,
        tallyHeader: 'x-prograde-variant',
      });
      const used = process.cpuUsage(generatorCpu);
      return {
        ...result,
        gatewayCpuMs: processCpuMs(child.pid) - gatewayCpu,
        generatorCpuMs: (used.user + used.system) / 1000,
      };
    };
    await load(WARMUP.concurrency, WARMUP);
    const runs: Record<number, RunRecord[]> = {};
    // Repetitions are interleaved across levels so slow drift of the shared machine spreads evenly.
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const c of CONCURRENCY) {
        const result = await load(c, BOUNDS);
        (runs[c] ??= []).push(result);
        log(
          `  ${scenario.name} c=${c} rep ${rep + 1}: ${result.throughput.toFixed(0)} req/s, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, errors ${result.errors}`,
        );
      }
    }
    const after = processMemory(child.pid);
    const counters = scrapeCounters(await (await fetch(`${url}/metrics`)).text());
    const snapshot = await admin.stats(MODEL);
    const inGateway: Record<string, LatencySummary & { samples: number }> = {};
    for (const [variant, window] of Object.entries(snapshot.variants))
      if (window && window.latencyMs.length > 0)
        inGateway[variant] = {
          ...summarizeLatencies(Float64Array.from(window.latencyMs)),
          samples: window.latencyMs.length,
        };
    child.send({ kind: 'stop' });
    await child.stop(15_000);
    return {
      scenario: scenario.name,
      runs,
      memory: { idle, after: after.rss, peak: after.peakRss },
      counters,
      inGateway,
    };
  } finally {
    if (child.process.exitCode === null) child.process.kill('SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
  }
}

interface PointStats {
  readonly throughput: Spread;
  readonly p50: Spread;
  readonly p95: Spread;
  readonly p99: Spread;
  readonly max: Spread;
  /** Gateway CPU time per answered request, microseconds. */
  readonly gatewayCpuUsPerRequest: Spread;
  /** CPU used by gateway + load generator as a share of all cores over the run, percent. */
  readonly machineCpuPercent: Spread;
  readonly requests: number;
  readonly errors: number;
}

function pointStats(results: readonly RunRecord[], cores: number): PointStats {
  return {
    throughput: spreadOf(results.map((r) => r.throughput)),
    p50: spreadOf(results.map((r) => r.latencyMs.p50)),
    p95: spreadOf(results.map((r) => r.latencyMs.p95)),
    p99: spreadOf(results.map((r) => r.latencyMs.p99)),
    max: spreadOf(results.map((r) => r.latencyMs.max)),
    gatewayCpuUsPerRequest: spreadOf(results.map((r) => (r.gatewayCpuMs * 1000) / Math.max(1, r.requests))),
    machineCpuPercent: spreadOf(
      results.map((r) => (100 * (r.gatewayCpuMs + r.generatorCpuMs)) / (r.durationMs * cores)),
    ),
    requests: results.reduce((a, r) => a + r.requests, 0),
    errors: results.reduce((a, r) => a + r.errors, 0),
  };
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(0);
}

/** How two points compare, judged by whether the min–max ranges of their repetitions overlap. */
function versus(a: Spread, b: Spread): string {
  if (a.min > b.max) return 'higher, outside the run-to-run spread';
  if (a.max < b.min) return 'lower, outside the run-to-run spread';
  return 'within the run-to-run spread';
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(2)}`;
}

function interpret(
  stats: Map<string, Map<number, PointStats>>,
  runs: readonly ScenarioRun[],
  cores: number,
): string[] {
  const at = (s: string, c: number): PointStats => {
    const point = stats.get(s)?.get(c);
    if (!point) throw new Error(`no stats for ${s} at concurrency ${c}`);
    return point;
  };
  const lines: string[] = [];
  const top = Math.max(...CONCURRENCY);
  const best = (s: string): { c: number; rps: number } =>
    CONCURRENCY.map((c) => ({ c, rps: at(s, c).throughput.median })).reduce((a, b) =>
      b.rps > a.rps ? b : a,
    );
  const stableBest = best('stable');
  const nobatchBest = best('stable-nobatch');
  lines.push(
    `Highest median throughput: ${stableBest.rps.toFixed(0)} req/s with batching (concurrency ${stableBest.c}), ` +
      `${nobatchBest.rps.toFixed(0)} req/s without (concurrency ${nobatchBest.c}). No request failed in any scenario ` +
      `(${runs.reduce((a, r) => a + CONCURRENCY.reduce((b, c) => b + at(r.scenario, c).errors, 0), 0)} errors).`,
  );
  const on = at('stable', top);
  const off = at('stable-nobatch', top);
  const on1 = at('stable', 1);
  const off1 = at('stable-nobatch', 1);
  lines.push(
    `Micro-batching at concurrency ${top}: ${on.throughput.median.toFixed(0)} req/s with maxBatchSize 64 vs ` +
      `${off.throughput.median.toFixed(0)} with maxBatchSize 1 (${versus(on.throughput, off.throughput)}), p99 ` +
      `${on.p99.median.toFixed(1)} vs ${off.p99.median.toFixed(1)} ms. At concurrency 1: ` +
      `p50 ${on1.p50.median.toFixed(2)} vs ${off1.p50.median.toFixed(2)} ms and ${on1.throughput.median.toFixed(0)} vs ` +
      `${off1.throughput.median.toFixed(0)} req/s (${versus(on1.throughput, off1.throughput)}): a request that finds the inference ` +
      `threads idle runs at once, and only requests arriving while runs are in flight wait up to maxWaitMs ` +
      `(${BATCH_WAIT_MS} ms) for company.`,
  );
  lines.push(
    `CPU cost per request at concurrency ${top}: gateway ${on.gatewayCpuUsPerRequest.median.toFixed(0)} µs with batching vs ` +
      `${off.gatewayCpuUsPerRequest.median.toFixed(0)} µs without; gateway + load generator used ${on.machineCpuPercent.median.toFixed(0)} % ` +
      `and ${off.machineCpuPercent.median.toFixed(0)} % of the machine's cores. CPU per request is the ` +
      `number to carry to another machine; well below 100 % of the cores at saturation means the rest went to other work on this shared host.`,
  );
  const canary = runs.find((r) => r.scenario === 'canary-50');
  if (canary) {
    const { stableRequests = 0, canaryRequests = 0 } = canary.counters;
    const share = canaryRequests / Math.max(1, stableRequests + canaryRequests);
    const c = at('canary-50', top);
    lines.push(
      `Canary 50 %: ${(share * 100).toFixed(1)} % of ${stableRequests + canaryRequests} requests were answered by the canary. ` +
        `Throughput at concurrency ${top}: ${c.throughput.median.toFixed(0)} req/s vs ${on.throughput.median.toFixed(0)} stable-only ` +
        `(${versus(c.throughput, on.throughput)}).`,
    );
  }
  const shadow = runs.find((r) => r.scenario === 'shadow-slow-100');
  if (shadow) {
    const { shadowCompleted = 0, shadowDropped = 0, stableRequests = 0 } = shadow.counters;
    const perLevel = CONCURRENCY.map((c) => {
      const sh = at('shadow-slow-100', c);
      const st = at('stable', c);
      return `c=${c}: p50 ${sh.p50.median.toFixed(2)} vs ${st.p50.median.toFixed(2)} ms (${versus(sh.p50, st.p50)})`;
    }).join('; ');
    const inShadow = shadow.inGateway.shadow;
    const inStable = shadow.inGateway.stable;
    lines.push(
      `Shadow 100 % with the slow model, caller p50 with shadow vs stable only: ${perLevel}. ` +
        `Inside the gateway the shadow copies took p50 ${inShadow?.p50.toFixed(2) ?? 'n/a'} ms / p99 ${inShadow?.p99.toFixed(1) ?? 'n/a'} ms ` +
        `against ${inStable?.p50.toFixed(2) ?? 'n/a'} / ${inStable?.p99.toFixed(1) ?? 'n/a'} ms for the stable inference the caller waited for; ` +
        `${shadowCompleted} shadow copies completed and ${shadowDropped} were dropped (backlog full) for ${stableRequests} caller requests. ` +
        (inShadow
          ? `Were callers held by the shadow, their p50 would grow by about the shadow's own p50 (${inShadow.p50.toFixed(2)} ms); ` +
            `the observed p50 change is ${signed(at('shadow-slow-100', 1).p50.median - at('stable', 1).p50.median)} ms at concurrency 1 ` +
            `and ${signed(at('shadow-slow-100', top).p50.median - at('stable', top).p50.median)} ms at ${top}, where the shadow ` +
            `thread competes with the serving threads for the same ${cores} cores (the gateway's CPU per request is ` +
            `${at('shadow-slow-100', top).gatewayCpuUsPerRequest.median.toFixed(0)} µs with the shadow vs ` +
            `${at('stable', top).gatewayCpuUsPerRequest.median.toFixed(0)} µs without).`
          : 'The gateway reported no shadow latency samples.'),
    );
  }
  const growth = runs.map((r) => `${r.scenario} ${mib(r.memory.idle)}→${mib(r.memory.after)} MiB`).join(', ');
  lines.push(`Gateway RSS idle→after load (models loaded, before → after all levels): ${growth}.`);
  return lines;
}

export async function runGatewayBench(command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const machine = machineInfo();
  const modelsRoot = await mkdtemp(path.join(os.tmpdir(), 'prograde-bench-models-'));
  try {
    await writeModelVersion(modelsRoot, MODEL, '1', sampleModel('good'));
    await writeModelVersion(modelsRoot, MODEL, '2', sampleModel('good', { seed: 2 }));
    await writeModelVersion(modelsRoot, MODEL, '3', sampleModel('slow'));
    const body = requestBody();
    const runs: ScenarioRun[] = [];
    for (const scenario of SCENARIOS) {
      log(`gateway: ${scenario.what}`);
      runs.push(await runScenario(scenario, modelsRoot, body, log));
    }

    const stats = new Map<string, Map<number, PointStats>>();
    for (const run of runs)
      stats.set(
        run.scenario,
        new Map(CONCURRENCY.map((c) => [c, pointStats(run.runs[c] ?? [], machine.cores)] as const)),
      );
    const loadTable: Table = {
      title: 'Throughput and latency (per point: median (min–max) over repetitions)',
      columns: [
        'scenario',
        'concurrency',
        'req/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'max ms',
        'gateway CPU µs/req',
        'gateway+generator CPU % of cores',
        'requests (all reps)',
        'errors',
      ],
      rows: runs.flatMap((run) =>
        CONCURRENCY.map((c) => {
          const s = stats.get(run.scenario)?.get(c);
          if (!s) throw new Error(`no stats for ${run.scenario} c=${c}`);
          return [
            run.scenario,
            String(c),
            formatSpread(s.throughput, 0),
            formatSpread(s.p50),
            formatSpread(s.p95),
            formatSpread(s.p99),
            formatSpread(s.max),
            formatSpread(s.gatewayCpuUsPerRequest, 0),
            formatSpread(s.machineCpuPercent, 0),
            String(s.requests),
            String(s.errors),
          ];
        }),
      ),
    };
    const memoryTable: Table = {
      title: 'Gateway process (child) memory and counters',
      columns: [
        'scenario',
        'RSS idle MiB',
        'RSS after MiB',
        'peak RSS MiB',
        'counters (from /metrics)',
        'in-gateway inference p50 / p99 ms (sampled)',
      ],
      rows: runs.map((r) => [
        r.scenario,
        mib(r.memory.idle),
        mib(r.memory.after),
        mib(r.memory.peak),
        Object.entries(r.counters)
          .filter(([, v]) => v > 0)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
        Object.entries(r.inGateway)
          .map(([k, v]) => `${k} ${v.p50.toFixed(2)} / ${v.p99.toFixed(1)}`)
          .join(', '),
      ]),
    };
    const endLoad = (os.loadavg()[0] ?? 0).toFixed(2);
    return {
      ...runRecord('gateway', started, command, machine),
      settings: {
        scenarios: SCENARIOS.map((s) => `${s.name}: ${s.what}`),
        concurrency: CONCURRENCY,
        repetitions: REPEATS,
        boundsPerRun: BOUNDS,
        warmupPerScenario: WARMUP,
        request: 'POST /v2/models/fraud/infer, 1 row × 12 float32 features, JSON',
        gateway: `defaults of startGateway (2 serving workers, 1 shadow worker, intraOpNumThreads 1, maxShadowBacklog 256), maxWaitMs ${BATCH_WAIT_MS}, log level warn`,
        loadGenerator:
          'closed loop, node:http keep-alive Agent (maxSockets = concurrency), in the parent process',
      },
      tables: [loadTable, memoryTable],
      interpretation: interpret(stats, runs, machine.cores),
      notes: [
        `The machine has ${machine.cores} cores shared with other work (1-minute load average ${machine.loadAverage1m} at start, ${endLoad} at end); the load generator, the gateway's event loop and its inference threads all compete for them, so absolute numbers are a floor for a dedicated host and the spread column shows the noise.`,
        'Latencies are measured by the client from request start to the last byte of the answer, so they include HTTP, JSON and the worker-thread hop. The generator is closed loop: no coordinated-omission correction, and at saturation higher concurrency shows up as queueing latency rather than lost throughput.',
        'RSS is read from /proc/<gateway pid>/status (VmRSS, VmHWM) and includes the worker threads and ONNX Runtime sessions.',
      ],
      raw: runs,
    };
  } finally {
    await rm(modelsRoot, { recursive: true, force: true });
  }
}
