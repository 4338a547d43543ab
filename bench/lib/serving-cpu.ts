/**
 * CPU time per request of the gateway and of the bare server, measured the same way in the same
 * minute: a load-robust figure on a shared machine, where req/s and latency measure the neighbours
 * as much as the server. For each point, each system runs a 2 s wrk warm-up, then a measured wrk
 * run; the CPU it used is the process's utime + stime (all its threads, ended ones included, from
 * /proc/<pid>/stat) over that run, divided by the requests wrk counted. The main thread's share
 * (/proc/<pid>/task/<pid>/stat) is given apart, since the event loop is what limits throughput.
 *
 *   npx tsx bench/lib/serving-cpu.ts [seconds per run] [rounds]
 *
 * SERVING_CPU_POINTS=0,3 limits the points (indexes into POINTS). Prints one line per point and
 * round, then the medians; writes nothing.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR } from './report';
import { bodiesFor, type BodyKey } from './serving-bodies';
import { cachedModel } from './serving-profile';
import { routeOf, startBare, startGateway, type Protocol, type RunningSystem } from './serving-systems';
import { ensureWrk, runWrk, writePostScript } from './serving-wrk';

const TICKS_PER_SECOND = 100;

interface Point {
  readonly body: BodyKey;
  readonly protocol: Protocol;
  readonly connections: number;
}

export const POINTS: readonly Point[] = [
  { body: '1 row', protocol: 'invocations', connections: 1 },
  { body: '1 row', protocol: 'invocations', connections: 8 },
  { body: '1 row', protocol: 'invocations', connections: 64 },
  { body: '100 rows', protocol: 'invocations', connections: 8 },
  { body: '1 row', protocol: 'v2', connections: 64 },
];

/** utime + stime in clock ticks, fields 14 and 15 of a stat line (after the parenthesised name). */
function ticksOf(statFile: string): number {
  const text = readFileSync(statFile, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

interface Sample {
  readonly system: string;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  readonly usPerRequest: number;
  readonly mainUsPerRequest: number;
}

async function measure(
  system: RunningSystem,
  point: Point,
  script: string,
  seconds: number,
): Promise<Sample> {
  const url = `${system.url}${routeOf(point.protocol)}`;
  const threads = point.connections === 1 ? 1 : 2;
  await runWrk({ url, script, connections: point.connections, durationSec: 2, threads });
  const procStat = `/proc/${system.pid}/stat`;
  const mainStat = `/proc/${system.pid}/task/${system.pid}/stat`;
  const before = ticksOf(procStat);
  const mainBefore = ticksOf(mainStat);
  const run = await runWrk({ url, script, connections: point.connections, durationSec: seconds, threads });
  const used = ticksOf(procStat) - before;
  const mainUsed = ticksOf(mainStat) - mainBefore;
  if (run.errors > 0) throw new Error(`${system.name}: ${run.errors} failed requests`);
  const perRequest = (ticks: number): number => (ticks * 1e6) / TICKS_PER_SECOND / run.requests;
  return {
    system: system.name,
    throughput: run.throughput,
    p50: run.p50,
    p99: run.p99,
    usPerRequest: perRequest(used),
    mainUsPerRequest: perRequest(mainUsed),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const rounds = Number(process.argv[3] ?? 1);
  ensureWrk(path.resolve(BENCH_DIR, '..'));
  const model = await cachedModel();
  const bodies = bodiesFor(model);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prograde-serving-cpu-'));
  const only = process.env.SERVING_CPU_POINTS?.split(',').map(Number);
  const points = POINTS.filter((_, i) => !only || only.includes(i));
  const gateway = await startGateway(model);
  const bare = await startBare(model);
  const all = new Map<string, Sample[]>();
  try {
    for (let round = 0; round < rounds; round++)
      for (const point of points) {
        const name = `${point.protocol}-${point.body.replace(' ', '')}`;
        const bodyFile = path.join(dir, `${name}.json`);
        await writeFile(bodyFile, bodies[point.body][point.protocol]);
        const script = await writePostScript(dir, name, bodyFile);
        const label = `${point.body} ${point.protocol} c=${point.connections}`;
        // Alternate which system goes first, so neither always runs in the other's wake.
        const order = round % 2 === 0 ? [gateway, bare] : [bare, gateway];
        for (const system of order) {
          const s = await measure(system, point, script, seconds);
          const key = `${label}|${s.system}`;
          all.set(key, [...(all.get(key) ?? []), s]);
          console.log(
            `${label.padEnd(28)} ${s.system.padEnd(8)} ${s.throughput.toFixed(0).padStart(6)} req/s  p50 ${s.p50.toFixed(3)} ms  p99 ${s.p99.toFixed(2)} ms  CPU ${s.usPerRequest.toFixed(1)} µs/req (main ${s.mainUsPerRequest.toFixed(1)})  load ${os.loadavg()[0]?.toFixed(2)}`,
          );
        }
      }
  } finally {
    await gateway.stop();
    await bare.stop();
    await rm(dir, { recursive: true, force: true });
  }
  if (rounds > 1) {
    console.log('medians:');
    for (const [key, samples] of all) {
      const [label, system] = key.split('|');
      console.log(
        `${(label ?? '').padEnd(28)} ${(system ?? '').padEnd(8)} ${median(samples.map((s) => s.throughput)).toFixed(0)} req/s  CPU ${median(samples.map((s) => s.usPerRequest)).toFixed(1)} µs/req (main ${median(samples.map((s) => s.mainUsPerRequest)).toFixed(1)})`,
      );
    }
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
