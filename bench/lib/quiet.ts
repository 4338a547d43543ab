import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits until the machine's CPUs are nearly idle: a run that starts while the previous system is
 * still working off its backlog (`mlflow models serve` keeps answering the requests queued at 64
 * connections for a second or more after wrk stops) measures that system's tail, not its own. In the
 * serving comparison this spill-over landed on whichever system ran next, and the rotation of the
 * order put the gateway there in two of three rounds at some points: a p99 of 7–9 ms there, 1.8–2 ms
 * when the same point was run on a settled machine.
 *
 * "Quiet": over a `windowMs` window, busy time of all CPUs (from /proc/stat) below `maxBusy` of one
 * CPU. Gives up after `timeoutMs`; returns how long it waited, ms.
 */
export async function waitForQuiet(
  options: { windowMs?: number; maxBusy?: number; timeoutMs?: number } = {},
): Promise<number> {
  const windowMs = options.windowMs ?? 250;
  const maxBusy = options.maxBusy ?? 0.15;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const started = performance.now();
  let before = cpuTicks();
  while (performance.now() - started < timeoutMs) {
    await sleep(windowMs);
    const after = cpuTicks();
    const busy = after.busy - before.busy;
    const all = after.total - before.total;
    before = after;
    // total counts every CPU's ticks: busy / all × cpus is the busy share of one CPU.
    if (all > 0 && (busy / all) * after.cpus <= maxBusy) break;
  }
  return performance.now() - started;
}

function cpuTicks(): { busy: number; total: number; cpus: number } {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const fields = (lines[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: idle and iowait are the idle ones.
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const cpus = lines.filter((l) => /^cpu\d+ /.test(l)).length || 1;
  return { busy: total - idle, total, cpus };
}
