import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError, ProgradeError, messageOf } from '../../errors';
import { mlflowClient } from '../../config/mlflow';
import { DEFAULT_EXPERIMENT, registerOnnxModel } from '../../mlflow/register';
import { inspectOnnx } from '../../onnx/inspect';
import { ExitCode } from '../exit-codes';
import { CliExit } from '../run';

interface RegisterFlags {
  readonly name: string;
  readonly alias?: string;
  readonly tag: string[];
  readonly experiment: string;
  readonly json?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `k=v` pairs into a record; the first '=' splits, so values may contain '='. */
export function parseTags(pairs: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new InvalidInputError(`--tag ${JSON.stringify(pair)} must look like key=value`, { tag: pair });
    tags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return tags;
}

async function readModelFile(path: string): Promise<Buffer> {
  const full = resolve(path);
  try {
    return await readFile(full);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a folder, not a file'
          : `cannot be read (${messageOf(e)})`;
    throw new InvalidInputError(`ONNX model ${full} ${why}`, { path: full }, { cause: e });
  }
}

export function register(program: Command): void {
  program
    .command('register')
    .description('Log an ONNX model to MLflow (MLflow 3 logged model) and register it as a new version')
    .argument('<model.onnx>', 'path of the ONNX file')
    .requiredOption('--name <model>', 'registered model name')
    .option('--alias <alias>', 'alias to point at the new version, e.g. challenger')
    .option('--tag <key=value>', 'tag on the new version (repeatable)', collect, [])
    .option('--experiment <name>', 'experiment the logged model goes into', DEFAULT_EXPERIMENT)
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: RegisterFlags) => {
      const tags = parseTags(flags.tag);
      const onnxBytes = await readModelFile(file);
      // Checked here as well as in registerOnnxModel so a bad file is an input error (exit 2) before MLflow is contacted.
      try {
        inspectOnnx(onnxBytes);
      } catch (e) {
        if (!(e instanceof ProgradeError)) throw e;
        console.error(`prograde: ${resolve(file)}: ${e.message} [${e.code}]`);
        throw new CliExit(ExitCode.invalidInput);
      }
      const client = mlflowClient();
      const result = await registerOnnxModel(client, {
        name: flags.name,
        onnxBytes,
        tags,
        experimentName: flags.experiment,
        ...(flags.alias !== undefined ? { alias: flags.alias } : {}),
      });
      if (flags.json) {
        const out = {
          name: flags.name,
          ...result,
          uri: `models:/${flags.name}/${result.version}`,
          alias: flags.alias ?? null,
          tags,
        };
        console.log(JSON.stringify(out, null, 2));
      } else {
        console.log(result.version);
      }
    });
}
