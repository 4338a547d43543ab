import { Command } from 'commander';
import { commands } from './commands';
import { runCli } from './run';
import { tracedCli } from '../telemetry';

const program = new Command('prograde')
  .description('Promote ML model versions from the MLflow registry to production, safely, on Temporal.')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true });

for (const register of commands) register(program);

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a command that drives a workflow is a span (docs/tracing.md).
void tracedCli(process.argv, () => runCli(program, process.argv));
