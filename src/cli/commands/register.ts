import { resolve } from 'node:path';
import type { Command } from 'commander';
import { mlflowClient } from '../../config/mlflow';
import { InputFileError, readInputFile } from '../../input-file';
import {
  DEFAULT_EXPERIMENT,
  MAX_ONNX_BYTES,
  RegistrationInvalidError,
  checkRegistration,
  namingProblems,
  registerChecked,
  type RegistrationProblem,
} from '../../mlflow/register';

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

/**
 * `k=v` pairs into a record; the first '=' splits, so values may contain '='. A pair without a key,
 * or a key given twice, is a problem rather than a silent choice.
 */
export function parseTags(pairs: readonly string[]): {
  tags: Record<string, string>;
  problems: RegistrationProblem[];
} {
  const tags: Record<string, string> = {};
  const problems: RegistrationProblem[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const subject = `--tag ${JSON.stringify(pair.length > 80 ? `${pair.slice(0, 80)}…` : pair)}`;
    if (eq <= 0) {
      problems.push({ subject, message: 'a tag must look like key=value', code: 'TAG_INVALID' });
      continue;
    }
    const key = pair.slice(0, eq);
    if (Object.hasOwn(tags, key)) {
      problems.push({ subject, message: `the tag key is given more than once`, code: 'TAG_INVALID' });
      continue;
    }
    Object.defineProperty(tags, key, {
      value: pair.slice(eq + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { tags, problems };
}

/** The model file's bytes, or the problem with the file (missing, a FIFO, a device, too large…). */
async function readModelFile(path: string): Promise<Buffer | RegistrationProblem> {
  try {
    return await readInputFile(path, MAX_ONNX_BYTES);
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    return { subject: path, message: `the file ${e.reason}`, code: 'MODEL_FILE_INVALID' };
  }
}

export function register(program: Command): void {
  program
    .command('register')
    .description(
      'Log an ONNX model to MLflow (MLflow 3 logged model) and register it as a new version; names, tags and the model are checked first and nothing is written when any is wrong',
    )
    .argument('<model.onnx>', 'path of the ONNX file')
    .requiredOption('--name <model>', 'registered model name')
    .option('--alias <alias>', 'alias to point at the new version, e.g. challenger')
    .option('--tag <key=value>', 'tag on the new version (repeatable)', collect, [])
    .option('--experiment <name>', 'experiment the logged model goes into', DEFAULT_EXPERIMENT)
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: RegisterFlags) => {
      const modelPath = resolve(file);
      const { tags, problems } = parseTags(flags.tag);
      const bytes = await readModelFile(modelPath);
      if (!Buffer.isBuffer(bytes)) problems.push(bytes);
      const options = {
        name: flags.name,
        onnxBytes: Buffer.isBuffer(bytes) ? bytes : new Uint8Array(),
        tags,
        experimentName: flags.experiment,
        ...(flags.alias !== undefined ? { alias: flags.alias } : {}),
      };
      // Everything that needs no server is checked before MLflow is even contacted.
      const checked = Buffer.isBuffer(bytes)
        ? await checkRegistration(options, modelPath, problems)
        : failWith([...problems, ...namingProblems(options)]);
      const result = await registerChecked(mlflowClient(), checked);
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

function failWith(problems: readonly RegistrationProblem[]): never {
  throw new RegistrationInvalidError(problems);
}
