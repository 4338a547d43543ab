import { describe, expect, it } from 'vitest';
import { renderJunit, xmlEscape } from '../../src/report/junit';
import { mdText, renderStepSummary } from '../../src/report/step-summary';
import { evidenceState, HOSTILE } from '../support/evidence-state';
import { parseXml } from '../support/xml-tree';

describe('JUnit report – each gate and live check as a test case', () => {
  const state = evidenceState(`fraud ${HOSTILE}`, '2');
  const xml = renderJunit(state);

  it('is valid XML even with hostile names, reasons and control characters', () => {
    expect(() => parseXml(xml)).not.toThrow();
    expect(xml).not.toContain('\u0000');
    expect(xml).not.toContain('<script');
    // The reader is strict: a raw '<' or '&' in text is refused.
    expect(() => parseXml('<a>x < y</a>')).toThrow();
    expect(() => parseXml('<a>x & y</a>')).toThrow();
  });

  it('has one suite per verdict (each canary step its own), one case per check, failures with messages', () => {
    const doc = parseXml(xml);
    expect(doc.name).toBe('testsuites');
    expect(doc.children.map((s) => s.attrs['name'])).toEqual([
      'performance',
      'fairness',
      'shadow',
      'canary #1',
      'canary #2',
      'outcome',
    ]);
    const failedStep = doc.children[4];
    expect(failedStep?.attrs['failures']).toBe('1');
    const failure = failedStep?.children[0]?.children.find((c) => c.name === 'failure');
    expect(failure?.attrs['message']).toBe('error rate increase 0.09');
    const outcome = doc.children[5]?.children[0]?.children[0];
    expect(outcome?.name).toBe('failure');
    expect(outcome?.attrs['type']).toBe('rolled-back');
    expect(outcome?.attrs['message']).toContain('<script>alert("x")</script>');
    expect(doc.attrs['tests']).toBe('6');
    expect(doc.attrs['failures']).toBe('2');
  });

  it('passes the outcome case when promoted', () => {
    const promoted = renderJunit(evidenceState('m', '2', { outcome: 'promoted' }));
    expect(promoted).toMatch(/<testcase [^>]*name="outcome"[^>]*><system-out>promoted/);
  });

  it('escapes the five XML specials and drops what XML 1.0 cannot hold', () => {
    expect(xmlEscape(`<a href="x">&'\u0001`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
  });
});

describe('GitHub job summary – verdicts table, links and the reason', () => {
  const state = {
    ...evidenceState('fraud', '2'),
    evidenceRun: { runId: 'abc', url: 'http://127.0.0.1:5000/#/experiments/1/runs/abc' },
  };
  const md = renderStepSummary(state, {
    mlflowRun: state.evidenceRun.url,
    temporal: 'http://localhost:8233/namespaces/default/workflows/promote%2Ffraud%2F2',
  });

  it('has the outcome, the reason, both links and a row per check', () => {
    expect(md).toContain('## ❌ prograde: fraud v2 ROLLED-BACK');
    expect(md).toContain('[MLflow run](http://127.0.0.1:5000/#/experiments/1/runs/abc)');
    expect(md).toContain('[Temporal UI](http://localhost:8233/');
    expect(md).toMatch(/\| canary #2 \| error rate increase \| ❌ failed \| 0\.09 \| &#60;= 0\.02 \|/);
    expect(md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| gate'))).toHaveLength(5);
  });

  it('makes user text inert: no HTML, no table break, no link', () => {
    expect(md).not.toContain('<script');
    expect(md).not.toContain('<img');
    expect(mdText('a|b](javascript:x)\nc')).toBe('a&#124;b&#93;&#40;javascript:x&#41; c');
  });

  it('drops a link that is not http(s)', () => {
    expect(renderStepSummary(state, { temporal: 'javascript:alert(1)' })).not.toContain('javascript:alert');
  });
});
