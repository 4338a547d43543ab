import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as prettier from 'prettier';
import type { MachineInfo } from './machine';

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** Everything one benchmark measured, as written to bench/results/<name>.json. */
export interface BenchResult {
  readonly name: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSec: number;
  readonly command: string;
  readonly machine: MachineInfo;
  /** The knobs of the run (bounds, repetitions, gateway options), so a rerun can match them. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly tables: readonly Table[];
  /** Sentences derived from the numbers above, not written ahead of the run. */
  readonly interpretation: readonly string[];
  readonly notes: readonly string[];
  /** Per-repetition measurements behind every table cell. */
  readonly raw: unknown;
}

/** The header of a result: what ran, when, for how long, on which machine. */
export function runRecord(
  name: string,
  started: Date,
  command: string,
  machine: MachineInfo,
): Pick<BenchResult, 'name' | 'startedAt' | 'finishedAt' | 'durationSec' | 'command' | 'machine'> {
  const finished = new Date();
  return {
    name,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSec: (finished.getTime() - started.getTime()) / 1000,
    command,
    machine,
  };
}

export const BENCH_DIR = path.resolve(__dirname, '..');
const RESULTS_MD = path.join(BENCH_DIR, 'RESULTS.md');

/** A row with more or fewer cells than columns would shift every number under the wrong heading. */
function checkShape(table: Table): void {
  const bad = table.rows.findIndex((r) => r.length !== table.columns.length);
  if (bad >= 0)
    throw new Error(
      `table '${table.title}': row ${bad} has ${table.rows[bad]?.length} cells for ${table.columns.length} columns`,
    );
}

export function renderTable(table: Table): string {
  checkShape(table);
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
  const lines = [
    `| ${table.columns.map(escape).join(' | ')} |`,
    `| ${table.columns.map(() => '---').join(' | ')} |`,
    ...table.rows.map((r) => `| ${r.map(escape).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** Plain-text table for the terminal. */
export function renderTextTable(table: Table): string {
  checkShape(table);
  const widths = table.columns.map((c, i) =>
    Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [
    table.title,
    line(table.columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...table.rows.map(line),
  ].join('\n');
}

function machineLine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.platform}; Node ${m.node}, onnxruntime-node ${m.onnxruntime}; load average at start ${m.loadAverage1m}`;
}

export function renderSection(result: BenchResult): string {
  const settings = Object.entries(result.settings)
    .map(([k, v]) => `- ${k}: \`${JSON.stringify(v)}\``)
    .join('\n');
  return [
    `## ${result.name}`,
    '',
    `- Date: ${result.startedAt} (took ${result.durationSec.toFixed(0)} s)`,
    `- Machine: ${machineLine(result.machine)}`,
    `- Command: \`${result.command}\``,
    `- Raw numbers: \`bench/results/${result.name}.json\``,
    '',
    '### Settings',
    '',
    settings,
    '',
    ...result.tables.flatMap((t) => [`### ${t.title}`, '', renderTable(t), '']),
    '### Interpretation',
    '',
    ...result.interpretation.map((s) => `- ${s}`),
    '',
    ...(result.notes.length > 0 ? ['### Notes', '', ...result.notes.map((s) => `- ${s}`), ''] : []),
  ].join('\n');
}

const HEADER = `# Benchmark results

Written by \`npm run bench\` (bench/run.ts); each section is replaced when its benchmark runs again.
Cells are \`median (min–max)\` over the repetitions of a point. Times are wall-clock unless a column says CPU; all were
measured on the machine named in the section, so compare numbers only within one machine.
`;

const startMarker = (name: string): string => `<!-- bench:${name}:start -->`;
const endMarker = (name: string): string => `<!-- bench:${name}:end -->`;

/** Writes results/<name>.json and replaces (or appends) the benchmark's section of RESULTS.md. */
export async function saveResult(result: BenchResult): Promise<{ json: string; markdown: string }> {
  const dir = path.join(BENCH_DIR, 'results');
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, `${result.name}.json`);
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);

  const current = existsSync(RESULTS_MD) ? await readFile(RESULTS_MD, 'utf8') : HEADER;
  const block = `${startMarker(result.name)}\n${renderSection(result)}${endMarker(result.name)}`;
  const start = current.indexOf(startMarker(result.name));
  const end = current.indexOf(endMarker(result.name));
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${block}${current.slice(end + endMarker(result.name).length)}`
      : `${current.trimEnd()}\n\n${block}\n`;
  // Formatted as the repository's prettier check expects, so a bench run never breaks `npm run format:check`.
  const config = (await prettier.resolveConfig(RESULTS_MD)) ?? {};
  await writeFile(RESULTS_MD, await prettier.format(next, { ...config, filepath: RESULTS_MD }));
  return { json, markdown: RESULTS_MD };
}
