#!/usr/bin/env node
// An installed package runs the JavaScript compiled at pack time (dist/, no TypeScript at runtime); a
// clone runs the TypeScript sources through tsx, so it needs no build step. A clone with a dist/ left
// over from `npm pack` still runs its sources: a stale build must never shadow an edit.
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // Answered here, before loading the CLI and its native modules.
  process.stdout.write(`${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}\n`);
} else if (existsSync(join(root, 'src', 'cli', 'main.ts'))) {
  require('tsx/cjs');
  require('../src/cli/main.ts');
} else {
  require('../dist/cli/main.js');
}
