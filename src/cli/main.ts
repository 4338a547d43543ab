import { Command } from 'commander';
import { commands } from './commands';
import { runCli } from './run';

const program = new Command('prograde')
  .description('Promote ML model versions from the MLflow registry to production, safely, on Temporal.')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true });

for (const register of commands) register(program);

void runCli(program, process.argv);
