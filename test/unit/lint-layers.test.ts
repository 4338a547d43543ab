import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { LAYERS, NODE_BUILTINS, layerConfigs } from '../../eslint.layers.mjs';

/**
 * The layer rules of eslint.layers.mjs, checked the way `npm run lint` applies them: each fixture in
 * test/fixtures/lint/ is linted as if it were the src/ file its first line names. A fixture named
 * `ok-…` must pass; every other one plants a violation of one boundary and must be refused.
 */

const root = path.resolve(__dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/lint');

// Only the layer rules, without type information: they look at import strings, nothing else.
function layersOnly(): ESLint {
  return new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      // The plugin registered (none of its rules on) so that src/'s eslint-disable comments naming its
      // rules resolve, as they do under eslint.config.mjs; with only the layer rules on, those comments
      // are unused here by design (npm run lint still reports a stale one).
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { '@typescript-eslint': tseslint.plugin },
        linterOptions: { reportUnusedDisableDirectives: 'off' },
      },
      ...layerConfigs(),
    ],
  });
}

async function restrictedImports(eslint: ESLint, code: string, as: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, as) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

const cases = readdirSync(fixtures)
  .filter((f) => f.endsWith('.ts.txt'))
  .sort()
  .map((file) => {
    const code = readFileSync(path.join(fixtures, file), 'utf8');
    const as = /^\/\/ lint as: (\S+)/.exec(code)?.[1];
    if (!as) throw new Error(`${file}: first line must be '// lint as: src/…'`);
    return { name: file.replace(/\.ts\.txt$/, ''), code, as };
  });

describe('import layers', () => {
  const eslint = layersOnly();

  it('has a planted violation for every boundary between adjacent layers', () => {
    // One fixture per boundary, named '<lower layer>-import(s)-<upper layer>'.
    const names = LAYERS.map((l) => l.name);
    for (let i = 0; i + 1 < names.length; i++) {
      const lower = names[i] ?? '';
      const upper = names[i + 1] ?? '';
      const planted = cases.some(
        (c) => c.name.startsWith(lower) && !c.name.startsWith('ok-') && c.name.endsWith(upper),
      );
      expect(planted, `${lower} → ${upper}`).toBe(true);
    }
  });

  for (const c of cases.filter((c) => !c.name.startsWith('ok-'))) {
    it(`refuses ${c.name} (${c.as})`, async () => {
      const messages = await restrictedImports(eslint, c.code, c.as);
      expect(messages.length, messages.join('\n')).toBeGreaterThan(0);
      expect(
        messages.every((m) => m.startsWith('no-restricted-imports:')),
        messages.join('\n'),
      ).toBe(true);
    });
  }

  for (const c of cases.filter((c) => c.name.startsWith('ok-'))) {
    it(`allows ${c.name} (${c.as})`, async () => {
      expect(await restrictedImports(eslint, c.code, c.as)).toEqual([]);
    });
  }

  it('bans every Node built-in in workflow code, subpaths included, from node:module', () => {
    for (const name of [
      'buffer',
      'perf_hooks',
      'vm',
      'timers/promises',
      'node:timers/promises',
      'fs/promises',
    ]) {
      expect(NODE_BUILTINS).toContain(name);
    }
  });

  it('finds no violation in src/ today', async () => {
    const results = await eslint.lintFiles(['src/**/*.ts']);
    const found = results.flatMap((r) =>
      r.messages.map((m) => `${path.relative(root, r.filePath)}:${m.line}: ${m.message}`),
    );
    expect(found).toEqual([]);
  });
});
