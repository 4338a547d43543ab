/**
 * `npm run bench [-- <name>...]`: runs the named benchmarks (all when none is named), prints their
 * tables, writes bench/results/<name>.json and updates that benchmark's section of bench/RESULTS.md.
 */
import { runAdmissionBench } from './admission';
import { runCanaryBench } from './canary';
import { runGatesBench, runGatesSpeedBench } from './gates';
import { runGatewayBench } from './gateway';
import { runScaleBench } from './scale';
import { runServingCompareBench } from './serving-compare';
import { runSkewBench } from './skew';
import { renderTextTable, saveResult, type BenchResult } from './lib/report';

type Bench = (command: string, log: (line: string) => void) => Promise<BenchResult>;

const BENCHES: Readonly<Record<string, Bench>> = {
  gateway: runGatewayBench,
  gates: runGatesBench,
  'gates-speed': runGatesSpeedBench,
  canary: runCanaryBench,
  admission: runAdmissionBench,
  skew: runSkewBench,
  scale: runScaleBench,
  'serving-compare': runServingCompareBench,
};

async function main(): Promise<number> {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`,
    );
    return 2;
  }
  const chosen = names.length > 0 ? names : Object.keys(BENCHES);
  const log = (line: string): void => console.log(line);
  // The invocation as typed, so RESULTS.md tells exactly how its numbers were produced.
  const command = names.length > 0 ? `npm run bench -- ${names.join(' ')}` : 'npm run bench';
  for (const name of chosen) {
    const bench = BENCHES[name];
    if (!bench) continue;
    console.log(`\n== ${name} ==`);
    const result = await bench(command, log);
    for (const table of result.tables) console.log(`\n${renderTextTable(table)}`);
    console.log('');
    for (const line of result.interpretation) console.log(`* ${line}`);
    const saved = await saveResult(result);
    console.log(`\nwrote ${saved.json} and ${saved.markdown} (took ${result.durationSec.toFixed(0)} s)`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
