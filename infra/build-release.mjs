#!/usr/bin/env node
// `npm pack`'s prepack step after `tsc -p tsconfig.build.json`: bundles the compiled workflow code
// once, so an installed worker loads dist/workflow-bundle.js instead of running webpack at every start
// (src/worker.ts picks it up). The payload converter is bundled in, as the worker requires.
import { createRequire } from 'node:module';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repo, 'dist');
const require = createRequire(join(repo, 'package.json'));
const { bundleWorkflowCode } = require('@temporalio/worker');

const workflowsPath = join(dist, 'workflows', 'index.js');
const payloadConverterPath = join(dist, 'workflows', 'payload-converter.js');
for (const f of [workflowsPath, payloadConverterPath]) {
  if (!existsSync(f)) {
    process.stderr.write(`build-release: ${f} is missing; run tsc -p tsconfig.build.json first\n`);
    process.exit(1);
  }
}
const started = Date.now();
const quiet = () => undefined;
const { code } = await bundleWorkflowCode({
  workflowsPath,
  payloadConverterPath,
  logger: {
    log: quiet,
    trace: quiet,
    debug: quiet,
    info: quiet,
    warn: quiet,
    error: (m) => console.error(m),
  },
});
writeFileSync(join(dist, 'workflow-bundle.js'), code);
process.stderr.write(
  `build-release: dist/workflow-bundle.js (${(code.length / 1024).toFixed(0)} KiB) in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
);
