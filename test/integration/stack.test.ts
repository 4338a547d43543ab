import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { mlflowAnswers } from '../../src/devstack/mlflow-server';
import { temporalAnswers } from '../../src/devstack/temporal-server';
import { stack } from '../support/stack';

/** Command lines of `root` and all its descendants, from one `ps` snapshot. */
function processTree(root: number): string[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
  const inTree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows) {
      if (!inTree.has(r.pid) && inTree.has(r.ppid)) {
        inTree.add(r.pid);
        grew = true;
      }
    }
  }
  return rows.filter((r) => inTree.has(r.pid)).map((r) => r.args);
}

describe('test stack', () => {
  it('has a real Temporal dev server answering RPCs', async () => {
    expect(await temporalAnswers(stack.temporalAddress())).toBe(true);
  });
  it('has a real MLflow server answering /health', async () => {
    expect(await mlflowAnswers(stack.mlflowUri())).toBe(true);
  });
  it('runs MLflow without its job runner (8 Huey processes of ~230 MB each that prograde never uses)', () => {
    const tree = processTree(stack.mlflowPid());
    expect(tree.some((args) => args.includes('uvicorn'))).toBe(true);
    expect(tree.filter((args) => /huey|jobs\._job_runner/.test(args))).toEqual([]);
  });
});
