import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * CPU time of a process and all its descendants (utime + stime, plus what their exited children used),
 * from /proc: the Temporal dev server and the MLflow server (gunicorn workers under it) are trees.
 */
let ticks: number | undefined;

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export function treeCpuMs(root: number): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    const ppid = Number(fields?.[1]);
    if (!fields || !Number.isFinite(ppid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    const f = statFields(pid);
    // utime, stime, cutime, cstime are the 12th–15th fields after ") ".
    if (f) total += [11, 12, 13, 14].reduce((sum, i) => sum + (Number(f[i]) || 0), 0);
    stack.push(...(children.get(pid) ?? []));
  }
  return (total * 1000) / ticks;
}

/** `root` and every process under it, from /proc. */
export function treePids(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    if (Number.isFinite(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const all: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    all.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return all;
}

/**
 * Sets the nice value of every thread of the trees under `roots` (Linux keeps one per thread; threads
 * started later inherit their creator's). Returns how many threads took it; 0 when not permitted.
 */
export function setTreePriority(roots: readonly number[], nice: number): number {
  let set = 0;
  for (const pid of roots.flatMap(treePids)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        os.setPriority(Number(tid), nice);
        set++;
      } catch {
        // Gone, or not permitted (raising priority needs CAP_SYS_NICE): that thread keeps its own.
      }
    }
  }
  return set;
}
