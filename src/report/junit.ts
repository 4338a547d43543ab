import type { PromotionState } from '../promotion/state';
import type { CheckResult, GateVerdict } from '../promotion/verdict';

/**
 * A promotion as JUnit XML (`prograde promote --wait --junit FILE`), so any CI shows the gates as
 * test results: one suite per gate verdict (each canary step is its own), one case per check. A
 * failed check is a <failure> with its message; an inconclusive one is <skipped> (not judged); the
 * promotion's outcome is one more case, failed unless promoted, with the reason.
 *
 * Every text is user-influenced (model and check names, reasons), so it is escaped, and characters
 * XML 1.0 cannot hold at all (NUL and most control characters) are dropped.
 */

const INVALID_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlEscape(text: string | number | undefined): string {
  return String(text ?? '')
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const attr = (name: string, value: string | number): string => ` ${name}="${xmlEscape(value)}"`;

function details(c: CheckResult): string {
  const parts = [
    `metric: ${c.metric}`,
    c.value === undefined ? '' : `value: ${c.value}`,
    c.threshold === undefined ? '' : `threshold: ${c.comparator ?? ''} ${c.threshold}`,
    c.interval ? `interval: [${c.interval.lower}, ${c.interval.upper}] @${c.interval.confidence}` : '',
    c.sampleSize === undefined ? '' : `n: ${c.sampleSize}`,
  ];
  return parts.filter((p) => p !== '').join('\n');
}

function testCase(classname: string, c: CheckResult): string {
  const open = `<testcase${attr('classname', classname)}${attr('name', c.name)} time="0">`;
  if (c.status === 'passed') return `${open}<system-out>${xmlEscape(details(c))}</system-out></testcase>`;
  if (c.status === 'inconclusive')
    return `${open}<skipped${attr('message', `inconclusive: ${c.message}`)}/></testcase>`;
  return `${open}<failure${attr('message', c.message)} type="failed">${xmlEscape(details(c))}</failure></testcase>`;
}

function suiteName(g: GateVerdict, k: number, count: number): string {
  return count > 1 ? `${g.gate} #${k + 1}` : g.gate;
}

export function renderJunit(state: PromotionState): string {
  const prefix = `prograde.${state.model}.v${state.candidate.version}`;
  const counts = new Map<string, number>();
  for (const g of state.gates) counts.set(g.gate, (counts.get(g.gate) ?? 0) + 1);
  const seen = new Map<string, number>();
  const suites = state.gates.map((g) => {
    const k = seen.get(g.gate) ?? 0;
    seen.set(g.gate, k + 1);
    const name = suiteName(g, k, counts.get(g.gate) ?? 1);
    const failures = g.checks.filter((c) => c.status === 'failed').length;
    const skipped = g.checks.filter((c) => c.status === 'inconclusive').length;
    const cases = g.checks.map((c) => testCase(`${prefix}.${name}`, c)).join('\n    ');
    return `  <testsuite${attr('name', name)} tests="${g.checks.length}" failures="${failures}" errors="0" skipped="${skipped}" time="0">\n    ${cases}\n  </testsuite>`;
  });
  const outcome = state.outcome ?? 'failed';
  const promoted = outcome === 'promoted';
  const outcomeCase = promoted
    ? `<testcase${attr('classname', prefix)} name="outcome" time="0"><system-out>${xmlEscape(`promoted: ${state.reason ?? ''}`)}</system-out></testcase>`
    : `<testcase${attr('classname', prefix)} name="outcome" time="0"><failure${attr('message', `${outcome}: ${state.reason ?? ''}`)}${attr('type', outcome)}/></testcase>`;
  suites.push(
    `  <testsuite name="outcome" tests="1" failures="${promoted ? 0 : 1}" errors="0" skipped="0" time="0">\n    ${outcomeCase}\n  </testsuite>`,
  );
  const tests = state.gates.reduce((n, g) => n + g.checks.length, 1);
  const failures =
    state.gates.reduce((n, g) => n + g.checks.filter((c) => c.status === 'failed').length, 0) +
    (promoted ? 0 : 1);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${attr('name', `${prefix}: ${outcome}`)} tests="${tests}" failures="${failures}" errors="0">\n${suites.join('\n')}\n</testsuites>\n`;
}
