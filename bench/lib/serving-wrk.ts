/**
 * wrk (https://github.com/wg/wrk, Debian package `wrk`, installed by infra/install-bench-tools.sh) as
 * the load generator of the serving comparison: keep-alive connections, one POST body, latency
 * percentiles from its `--latency` report.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface WrkResult {
  readonly requests: number;
  readonly durationSec: number;
  readonly throughput: number;
  /** Milliseconds. */
  readonly p50: number;
  readonly p75: number;
  readonly p90: number;
  readonly p99: number;
  /** Non-2xx answers plus socket errors (connect, read, write, timeout). */
  readonly errors: number;
}

/** Runs infra/install-bench-tools.sh (a no-op when wrk is on PATH) and returns wrk's version line. */
export function ensureWrk(repoRoot: string): string {
  execFileSync('bash', [path.join(repoRoot, 'infra', 'install-bench-tools.sh')], { stdio: 'inherit' });
  try {
    execFileSync('wrk', ['--version'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    // `wrk --version` prints its banner and exits 1.
    const out = (e as { stdout?: string }).stdout ?? '';
    return out.split('\n')[0]?.trim() ?? 'wrk';
  }
  return 'wrk';
}

/** A wrk Lua script that POSTs the file's bytes as JSON. */
export async function writePostScript(folder: string, name: string, bodyFile: string): Promise<string> {
  const script = path.join(folder, `${name}.lua`);
  await writeFile(
    script,
    [
      'wrk.method = "POST"',
      'wrk.headers["Content-Type"] = "application/json"',
      `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))`,
      'wrk.body = f:read("*a")',
      'f:close()',
      '',
    ].join('\n'),
  );
  return script;
}

function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  switch (m[2]) {
    case 'us':
      return v / 1000;
    case 'ms':
      return v;
    case 's':
      return v * 1000;
    default:
      return v * 60_000;
  }
}

export function parseWrk(out: string): WrkResult {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m?.[1] ? toMs(m[1]) : NaN;
  };
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const requests = Number(done?.[1] ?? NaN);
  const durationSec = done?.[2] && done[3] ? toMs(`${done[2]}${done[3]}`) / 1000 : NaN;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requests,
    durationSec,
    throughput: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pct('50'),
    p75: pct('75'),
    p90: pct('90'),
    p99: pct('99'),
    errors: non2xx + socketErrors,
  };
}

export async function runWrk(options: {
  readonly url: string;
  readonly script: string;
  readonly connections: number;
  readonly durationSec: number;
  readonly threads?: number;
}): Promise<WrkResult & { readonly raw: string }> {
  const threads = Math.min(options.threads ?? 1, options.connections);
  const { stdout } = await execFileAsync(
    'wrk',
    [
      `-t${threads}`,
      `-c${options.connections}`,
      `-d${options.durationSec}s`,
      '--timeout',
      '10s',
      '--latency',
      '-s',
      options.script,
      options.url,
    ],
    { maxBuffer: 1 << 20 },
  );
  return { ...parseWrk(stdout), raw: stdout };
}
