/**
 * `npm run chaos [-- --short] [-- --seed N] [-- --runs N]`: the fault-injection suite at full size
 * (or the short one), N runs in a row, each with its invariant counts. Writes bench/results/chaos.json
 * and the chaos section of bench/RESULTS.md; exits 1 when any invariant count is not 0.
 */
import { machineInfo } from '../lib/machine';
import { runRecord, saveResult, type BenchResult, type Table } from '../lib/report';
import { FULL, SHORT } from './config';
import type { InvariantCounts } from './invariants';
import { runChaos, type ChaosResult } from './run';
import { ChaosStack } from './stack';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function violations(r: ChaosResult): number {
  const counts: readonly number[] = Object.values(r.invariants.counts);
  return counts.reduce((a, b) => a + b, 0);
}

const COUNT_NAMES: Record<keyof InvariantCounts, string> = {
  lost: 'lost (no terminal outcome)',
  duplicated: 'duplicated (attempt tag, recorded outcome, evidence run or audited generation twice)',
  auditRoutingDisagree: 'audit log and routing state disagree',
  callerFailures: 'caller requests failed by the stable variant',
  championWrong: '@champion not the expected version',
  replayFailures: 'histories that fail to replay',
  crashed: 'gateway or worker exited without being killed',
};

function tables(runs: readonly ChaosResult[]): Table[] {
  const cols = runs.map((_, i) => `run ${i + 1}`);
  return [
    {
      title: 'Invariants (each must be 0)',
      columns: ['invariant', ...cols],
      rows: (Object.keys(COUNT_NAMES) as (keyof InvariantCounts)[]).map((k) => [
        COUNT_NAMES[k],
        ...runs.map((r) => String(r.invariants.counts[k])),
      ]),
    },
    {
      title: 'Runs',
      columns: ['', ...cols],
      rows: [
        ['seed', ...runs.map((r) => String(r.options.seed))],
        [
          'duration s (setup / fault window / drain)',
          ...runs.map(
            (r) =>
              `${r.durationSec.toFixed(0)} (${r.setupSec.toFixed(0)} / ${r.faultWindowSec.toFixed(0)} / ${r.drainSec.toFixed(0)})`,
          ),
        ],
        ['promotions (most in flight at once)', ...runs.map((r) => `${r.promotions} (${r.maxConcurrent})`)],
        [
          'outcomes',
          ...runs.map((r) =>
            Object.entries(r.outcomes)
              .map(([k, v]) => `${k} ${v}`)
              .join(', '),
          ),
        ],
        [
          'end-to-end s p50 / max',
          ...runs.map((r) => `${r.endToEndSec.p50.toFixed(0)} / ${r.endToEndSec.max.toFixed(0)}`),
        ],
        ['faults injected', ...runs.map((r) => String(r.faults.length))],
        [
          'load average mean (max)',
          ...runs.map((r) => `${r.loadAverage.mean.toFixed(1)} (${r.loadAverage.max.toFixed(1)})`),
        ],
        [
          'traffic sent / ok / no answer / canary errors',
          ...runs.map(
            (r) => `${r.traffic.sent} / ${r.traffic.ok} / ${r.traffic.network} / ${r.traffic.canaryErrors}`,
          ),
        ],
        [
          'histories replayed, audit records read',
          ...runs.map((r) => `${r.invariants.replayed}, ${r.invariants.auditRecords}`),
        ],
      ],
    },
    {
      title: 'Faults by kind',
      columns: ['fault', ...cols],
      rows: [...new Set(runs.flatMap((r) => Object.keys(r.faultsByKind)))]
        .sort()
        .map((k) => [k, ...runs.map((r) => String(r.faultsByKind[k] ?? 0))]),
    },
  ];
}

async function main(): Promise<number> {
  const short = process.argv.includes('--short');
  const runsWanted = Number(arg('--runs') ?? '1');
  const seed0 = Number(arg('--seed') ?? String(Date.now() % 100_000));
  const started = new Date();
  const machine = machineInfo();
  const log = (line: string): void =>
    console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
  const runs: ChaosResult[] = [];
  for (let i = 0; i < runsWanted; i++) {
    const r = await runChaos({ ...(short ? SHORT : FULL), seed: seed0 + i, log });
    runs.push(r);
    log(
      `run ${i + 1}: ${JSON.stringify(r.invariants.counts)} in ${r.durationSec.toFixed(0)} s, ${r.faults.length} faults (at least ${r.options.minFaults} wanted)`,
    );
    for (const d of r.invariants.details) log(`  violation: ${d}`);
  }
  // Green: every count 0, and enough faults struck to mean something.
  const bad = runs.filter((r) => violations(r) > 0 || r.faults.length < r.options.minFaults).length;
  const command = `npm run chaos${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const result: BenchResult = {
    ...runRecord('chaos', started, command, machine),
    settings: { ...(short ? SHORT : FULL), seeds: runs.map((r) => r.options.seed) },
    tables: tables(runs),
    interpretation: [
      `${runs.length - bad} of ${runs.length} runs in a row were green: every invariant count at 0 and at least ${runs[0]?.options.minFaults ?? '?'} faults struck.`,
      `Faults per run: ${runs.map((r) => r.faults.length).join(', ')} (${runs.map((r) => r.faults.length - r.faults.filter((f) => f.note?.startsWith('fault action failed')).length).join(', ')} without a failed action); kinds still owed at the end for want of their moment: ${runs.map((r) => r.notInjected.map((n) => `${n.kind} (${n.reason})`).join(', ') || 'none').join('; ')}.`,
      `Stalked moments (a phase boundary, a rollback) armed but never come: ${runs.map((r) => String(r.missedMoments.length)).join(', ')}; a stalk counts as a fault only once it strikes.`,
      runs[0]?.tmpfsUnavailable === undefined
        ? "Full disk: gateway 0's state dir is a real tmpfs, filled to its last byte by a file for the fault's length."
        : `Full disk not run: ${runs[0].tmpfsUnavailable}.`,
    ],
    notes: [
      'Caller failures count only errors answered by the stable variant. Requests that got no answer while a gateway was killed or frozen are counted apart ("no answer"); a bad candidate\'s own errors in its canary are expected and counted apart too.',
      "Duplicates: a `prograde.attempt.<n>` tag twice for one workflow run, `recordOutcome` completed twice in one run's history, two evidence runs (experiment prograde/<model>) with one attempt key (runs that started after this check was added), a (model, generation) twice in a gateway's audit.jsonl.",
      '@champion expected: the candidate after `promoted`, the version that was champion before the run otherwise.',
    ],
    raw: runs,
  };
  await saveResult(result);
  log(
    `wrote bench/results/chaos.json and bench/RESULTS.md; ${bad === 0 ? 'all invariants 0' : `${bad} run(s) with violations`}`,
  );
  return bad === 0 ? 0 : 1;
}

if (require.main === module) {
  const bail = (why: string, code: number): void => {
    console.error(`chaos: ${why}; stopping the servers this run started`);
    void Promise.all([...ChaosStack.open].map((s) => s.close())).finally(() => process.exit(code));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => bail(signal, 130));
  process.once('uncaughtException', (e) => bail(`uncaught ${String(e.stack ?? e)}`, 1));
  main().then(
    (code) => {
      process.exit(code);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
