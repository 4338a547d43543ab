import type { Command } from 'commander';
import { loadSpec } from '../../spec/load';
import type { PromotionSpec } from '../../spec/schema';
import { SpecError, formatProblem, type SpecProblem } from '../../spec/spec-error';
import { ExitCode } from '../exit-codes';
import { CliExit } from '../run';

export type ValidationResult =
  | {
      file: string;
      valid: true;
      sha256: string;
      spec: PromotionSpec;
      /** Valid but probably not meant, e.g. a gate with no checks configured. */
      warnings: readonly SpecProblem[];
    }
  | { file: string; valid: false; problems: readonly SpecProblem[] };

/** Validates each file; a file that is missing, unreadable or invalid yields its problems instead of throwing. */
export async function validateFiles(files: readonly string[]): Promise<ValidationResult[]> {
  const results: ValidationResult[] = [];
  for (const file of files) {
    try {
      const loaded = await loadSpec(file);
      results.push({
        file,
        valid: true,
        sha256: loaded.sha256,
        spec: loaded.spec,
        warnings: loaded.warnings,
      });
    } catch (e) {
      if (!(e instanceof SpecError)) throw e;
      results.push({ file, valid: false, problems: e.problems });
    }
  }
  return results;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One line saying what the spec will do, so a reviewer sees at a glance that it means what they think. */
export function summarize(spec: PromotionSpec): string {
  const parts = [`model ${spec.model}`, plural(spec.gates.performance.length, 'performance check')];
  if (spec.gates.fairness) parts.push(plural(spec.gates.fairness.checks.length, 'fairness check'));
  if (spec.gates.latency) parts.push('latency gate');
  parts.push(spec.approval.required ? `approval by ${spec.approval.approvers.join(', ')}` : 'no approval');
  if (spec.shadow) parts.push(`shadow ${spec.shadow.sampleRate}%`);
  if (spec.canary) {
    const weights = spec.canary.steps.flatMap((s) => ('setWeight' in s ? [`${s.setWeight}%`] : []));
    parts.push(`canary ${weights.join(' → ')}`);
  }
  return parts.join(', ');
}

function render(result: ValidationResult): string {
  if (!result.valid) return result.problems.map(formatProblem).join('\n');
  return [
    `✓ ${result.file}: valid (${summarize(result.spec)})`,
    ...result.warnings.map((w) => `warning: ${formatProblem(w)}`),
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('validate')
    .description('Check promotion specs and print every problem with its file:line:column')
    .argument('<file...>', 'promotion spec files, e.g. promotion.yaml')
    .option('--json', 'print the parsed spec or the problems as JSON (an array when several files are given)')
    .action(async (files: string[], opts: { json?: boolean }) => {
      const results = await validateFiles(files);
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
      } else {
        for (const result of results) process.stdout.write(`${render(result)}\n`);
      }
      if (results.some((r) => !r.valid)) throw new CliExit(ExitCode.invalidInput);
    });
}
