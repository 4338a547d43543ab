import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/tools';
import { sampleModel } from '../../src/samples/models';
import { seededRng } from '../../src/samples/rng';
import { writeModelVersion } from '../../src/serving/model-directory';

/**
 * The audit log cannot miss an applied change (issue 9, section 3): the real gateway, in its own
 * process, takes routing PUTs for two models at once and is killed with SIGKILL at random moments.
 * After every restart the state file and the audit log must agree, every generation must be audited
 * exactly once and in increasing order, every acknowledged PUT must be audited, and a client's retry
 * of the PUT it lost in the crash must answer "unchanged" when its record survived.
 */

const TOKEN = 'killloop-token';
const MODELS = ['alpha', 'beta'] as const;
const KILLS = Number(process.env.PROGRADE_KILLLOOP_KILLS ?? 50);
const SEED = Number(process.env.PROGRADE_KILLLOOP_SEED ?? 20261202);

interface Put {
  readonly generation: number;
  readonly stable: { version: string };
  readonly canary?: { version: string; weight: number };
}
type Spec = Omit<Put, 'generation'>;

interface AuditLine {
  readonly model: string;
  readonly generation: number;
  readonly state: Spec;
}

let dir: string;
let child: ChildProcess | undefined;

/** `prograde gateway …` in a process of its own, as gateway-cli.test.ts starts it. */
function startGateway(): { proc: ChildProcess; url: Promise<string> } {
  const script = [
    "require('tsx/cjs');",
    "const { Command } = require('commander');",
    "const { runCli } = require('./src/cli/run.ts');",
    "const { register } = require('./src/cli/commands/gateway.ts');",
    "const program = new Command('prograde'); register(program);",
    "void runCli(program, [process.argv[0], 'prograde', ...process.argv.slice(1)]);",
  ].join('\n');
  const args = [
    'gateway',
    '--port',
    '0',
    '--models-dir',
    path.join(dir, 'models'),
    '--state-dir',
    path.join(dir, 'state'),
    '--workers',
    '1',
    '--log-level',
    'silent',
  ];
  const proc = spawn(process.execPath, ['-e', script, '--', ...args], {
    cwd: repoRoot,
    env: { ...process.env, PROGRADE_GATEWAY_TOKEN: TOKEN, MLFLOW_TRACKING_URI: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = new Promise<string>((resolve, reject) => {
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) resolve(m[1]);
    });
    proc.on('exit', () => reject(new Error(`gateway exited before listening:\n${stderr}`)));
  });
  return { proc, url };
}

async function untilReady(url: string): Promise<void> {
  for (;;) {
    const res = await fetch(`${url}/v2/health/ready`).catch(() => undefined);
    if (res?.status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function killHard(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

async function putRouting(
  url: string,
  model: string,
  put: Put,
): Promise<{ status: number; applied?: boolean }> {
  const res = await fetch(`${url}/admin/models/${model}/routing`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'x-prograde-actor': 'killloop' },
    body: JSON.stringify(put),
  });
  const body = (await res.json()) as { applied?: boolean };
  return { status: res.status, ...(body.applied !== undefined ? { applied: body.applied } : {}) };
}

/** The audit log's complete lines; a torn last line (no newline yet) is not a record. */
function readAudit(): { lines: AuditLine[]; torn: boolean } {
  const file = path.join(dir, 'state', 'audit.jsonl');
  if (!existsSync(file)) return { lines: [], torn: false };
  const text = readFileSync(file, 'utf8');
  const parts = text.split('\n');
  const tail = parts.pop() ?? '';
  return { lines: parts.map((l) => JSON.parse(l) as AuditLine), torn: tail !== '' };
}

function readState(): Record<string, { generation: number; spec: Spec }> {
  const file = path.join(dir, 'state', 'routing.json');
  if (!existsSync(file)) return {};
  return (
    JSON.parse(readFileSync(file, 'utf8')) as { models: Record<string, { generation: number; spec: Spec }> }
  ).models;
}

/** Every way the state file and the audit log can disagree, as readable lines (empty: they agree). */
function disagreements(acked: ReadonlyMap<string, Set<number>>): string[] {
  const problems: string[] = [];
  const state = readState();
  const { lines, torn } = readAudit();
  if (torn) problems.push('the audit log ends in a torn line after boot');
  for (const model of MODELS) {
    const mine = lines.filter((l) => l.model === model);
    for (let i = 1; i < mine.length; i++) {
      const [a, b] = [mine[i - 1]!.generation, mine[i]!.generation];
      if (b <= a) problems.push(`${model}: audit generation ${b} follows ${a} (duplicate or out of order)`);
    }
    const last = mine.at(-1);
    const live = state[model];
    if (live && !last) problems.push(`${model}: generation ${live.generation} is live with no audit record`);
    else if (last && !live)
      problems.push(`${model}: audited generation ${last.generation} is not in the state`);
    else if (live && last) {
      if (live.generation > last.generation)
        problems.push(
          `${model}: generation ${live.generation} is live; the last audited is ${last.generation}`,
        );
      else if (live.generation < last.generation)
        problems.push(
          `${model}: audited generation ${last.generation} is not live (state ${live.generation})`,
        );
      else if (JSON.stringify(live.spec) !== JSON.stringify(last.state))
        problems.push(`${model}: state spec of generation ${live.generation} differs from its audit record`);
    }
    const audited = new Set(mine.map((l) => l.generation));
    for (const g of acked.get(model) ?? [])
      if (!audited.has(g)) problems.push(`${model}: acknowledged generation ${g} has no audit record`);
  }
  return problems;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-killloop-'));
  for (const model of MODELS) {
    await writeModelVersion(path.join(dir, 'models'), model, '1', sampleModel('good'));
    await writeModelVersion(path.join(dir, 'models'), model, '2', sampleModel('previous'));
  }
});

afterAll(async () => {
  if (child) await killHard(child);
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway audit log under kill -9', () => {
  it(
    `agrees with the state file after each of ${KILLS} kills during routing PUTs`,
    async () => {
      const rng = seededRng(SEED);
      const next = new Map<string, number>(MODELS.map((m) => [m, 1]));
      const inFlight = new Map<string, Put>();
      const acked = new Map<string, Set<number>>(MODELS.map((m) => [m, new Set<number>()]));
      const failures: string[] = [];
      let badKills = 0;
      let totalPuts = 0;
      let retriedUnchanged = 0;
      let stateBehind = 0;
      const putOf = (model: string): Put => {
        const generation = next.get(model)!;
        const weight = 1 + Math.floor(rng.uniform() * 99);
        return rng.uniform() < 0.2
          ? { generation, stable: { version: rng.uniform() < 0.5 ? '1' : '2' } }
          : { generation, stable: { version: '1' }, canary: { version: '2', weight } };
      };

      for (let round = 0; round <= KILLS; round++) {
        const gw = startGateway();
        child = gw.proc;
        const url = await gw.url;
        await untilReady(url);
        // What boot made of the crash, before any client touches it.
        const afterBoot = disagreements(acked);
        // The client retries the PUT whose answer the crash swallowed (a Temporal activity would).
        for (const [model, put] of inFlight) {
          const audited = readAudit().lines.some((l) => l.model === model && l.generation === put.generation);
          const answer = await putRouting(url, model, put);
          if (answer.status !== 200)
            afterBoot.push(`${model}: retry of g${put.generation} answered ${answer.status}`);
          else if (audited && answer.applied !== false)
            afterBoot.push(`${model}: retry of audited g${put.generation} was applied again`);
          if (answer.status === 200) acked.get(model)!.add(put.generation);
          if (audited && answer.applied === false) retriedUnchanged++;
          next.set(model, put.generation + 1);
        }
        inFlight.clear();
        afterBoot.push(...disagreements(acked).map((p) => `after the retries: ${p}`));
        if (afterBoot.length > 0) {
          badKills++;
          failures.push(`restart ${round}: ${afterBoot.join('; ')}`);
        }
        if (round === KILLS) break;

        // PUTs for both models at once, until the kill at a random moment.
        let killed = false;
        const loops = MODELS.map(async (model) => {
          while (!killed) {
            const put = putOf(model);
            inFlight.set(model, put);
            try {
              const answer = await putRouting(url, model, put);
              totalPuts++;
              if (answer.status !== 200) throw new Error(`PUT ${model} g${put.generation}: ${answer.status}`);
              acked.get(model)!.add(put.generation);
              next.set(model, put.generation + 1);
              inFlight.delete(model);
            } catch (e) {
              if (killed) return; // the answer was lost in the crash; the put stays in flight
              throw e;
            }
          }
        });
        const delayMs = 30 + Math.floor(rng.uniform() * 600);
        await new Promise((r) => setTimeout(r, delayMs));
        killed = true;
        await killHard(gw.proc);
        await Promise.all(loops);
        // Whether this kill hit the window between the two writes: the state file behind the log.
        const state = readState();
        const { lines } = readAudit();
        if (
          MODELS.some(
            (m) => (lines.filter((l) => l.model === m).at(-1)?.generation ?? 0) > (state[m]?.generation ?? 0),
          )
        )
          stateBehind++;
      }
      console.log(
        `kill loop: ${KILLS} kills, ${totalPuts} PUTs answered, ${retriedUnchanged} retries answered unchanged, ` +
          `${stateBehind} kills left the state file behind the audit log (boot rolled it forward), ` +
          `${badKills} restarts disagreed`,
      );
      expect(failures).toEqual([]);
      expect(totalPuts).toBeGreaterThan(KILLS);
    },
    40 * 60_000,
  );
});
