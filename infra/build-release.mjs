#!/usr/bin/env node
// `npm pack`'s prepack step after `tsc -p tsconfig.build.json`: bundles the compiled workflow code
// once, so an installed worker loads dist/workflow-bundle.js instead of running webpack at every start
// (src/worker.ts picks it up). The payload converter is bundled in, as the worker requires.
// A second bundle, dist/workflow-bundle-traced.js, also holds the OpenTelemetry workflow interceptors
// (src/telemetry/workflow-interceptors.ts): a worker with OTEL_EXPORTER_OTLP_ENDPOINT set loads that one.
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
const tracingModule = join(dist, 'telemetry', 'workflow-interceptors.js');
for (const f of [workflowsPath, payloadConverterPath, tracingModule]) {
  if (!existsSync(f)) {
    process.stderr.write(`build-release: ${f} is missing; run tsc -p tsconfig.build.json first\n`);
    process.exit(1);
  }
}
const quiet = () => undefined;
const logger = {
  log: quiet,
  trace: quiet,
  debug: quiet,
  info: quiet,
  warn: quiet,
  error: (m) => console.error(m),
};
for (const [file, workflowInterceptorModules] of [
  ['workflow-bundle.js', []],
  ['workflow-bundle-traced.js', [tracingModule]],
]) {
  const started = Date.now();
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    payloadConverterPath,
    workflowInterceptorModules,
    logger,
  });
  writeFileSync(join(dist, file), code);
  process.stderr.write(
    `build-release: dist/${file} (${(code.length / 1024).toFixed(0)} KiB) in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
}
