/**
 * Worker processes for the scale benchmark, each its own child (so /proc/<pid> measures one worker),
 * with a sampler of their resident memory and CPU time while they run.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TsChild } from './child';
import { processCpuMs, processMemory } from './machine';
import { WorkerReady, type ScaleWorkerConfig } from './scale-worker';

export interface WorkerUsage {
  readonly pid: number;
  /** VmRSS right after the worker started polling: its cost before any promotion. */
  readonly idleRssBytes: number;
  /** The largest VmRSS seen by the sampler, and the kernel's own high-water mark (VmHWM). */
  readonly sampledPeakRssBytes: number;
  readonly peakRssBytes: number;
  readonly cpuMs: number;
}

export interface Fleet {
  readonly pids: readonly number[];
  readonly tuning: Readonly<Record<string, unknown>>;
  /** Stops sampling and the workers; returns what each used. */
  stop(): Promise<WorkerUsage[]>;
}

export interface FleetOptions {
  readonly count: number;
  readonly dir: string;
  readonly base: Omit<ScaleWorkerConfig, 'workDir' | 'identity'>;
  readonly sampleEveryMs?: number;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const children: TsChild[] = [];
  const usage: { idle: number; sampledPeak: number; peak: number; cpuMs: number }[] = [];
  let tuning: Readonly<Record<string, unknown>> = {};
  try {
    for (let i = 0; i < o.count; i++) {
      const workDir = join(o.dir, `worker-${i}`);
      mkdirSync(workDir, { recursive: true });
      const config: ScaleWorkerConfig = { ...o.base, workDir, identity: `scale-worker-${i}` };
      const child = new TsChild(join(__dirname, 'scale-worker.ts'), [JSON.stringify(config)]);
      children.push(child);
      const ready = await child.next(WorkerReady, 180_000);
      tuning = ready.tuning;
      const idle = processMemory(child.pid).rss;
      usage.push({ idle, sampledPeak: idle, peak: idle, cpuMs: 0 });
    }
  } catch (e) {
    for (const c of children) c.send({ type: 'stop' });
    await Promise.all(children.map((c) => c.stop(15_000)));
    throw e;
  }
  const sample = (): void => {
    children.forEach((c, i) => {
      const u = usage[i];
      if (!u || c.process.exitCode !== null) return;
      try {
        const m = processMemory(c.pid);
        u.sampledPeak = Math.max(u.sampledPeak, m.rss);
        u.peak = Math.max(u.peak, m.peakRss);
        u.cpuMs = processCpuMs(c.pid);
      } catch {
        // The process ended between the check and the read: its last sample stands.
      }
    });
  };
  const timer = setInterval(sample, o.sampleEveryMs ?? 250);
  return {
    pids: children.map((c) => c.pid),
    tuning,
    stop: async () => {
      sample();
      clearInterval(timer);
      for (const c of children) c.send({ type: 'stop' });
      await Promise.all(children.map((c) => c.stop(30_000)));
      return children.map((c, i) => {
        const u = usage[i] ?? { idle: NaN, sampledPeak: NaN, peak: NaN, cpuMs: NaN };
        return {
          pid: c.pid,
          idleRssBytes: u.idle,
          sampledPeakRssBytes: u.sampledPeak,
          peakRssBytes: u.peak,
          cpuMs: u.cpuMs,
        };
      });
    },
  };
}
