import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { startMlflowServer, type MlflowServer } from '../../src/devstack/mlflow-server';
import { freePort } from '../../src/devstack/ports';
import { logTail, spawnService, waitUntilReady } from '../../src/devstack/service';
import type { TemporalServer } from '../../src/devstack/temporal-server';
import { toolPaths } from '../../src/devstack/tools';
import { SEARCH_ATTRIBUTES } from '../../src/promotion/search-attributes';
import { Connection } from '@temporalio/client';
import { repoRoot } from '../../src/devstack/tools';
import { freeze, kill9, spawnPrograde, untilPortFree, type NodeChild, type Victim } from './procs';

/**
 * The system under test, every part a child process of the chaos run on loopback: a Temporal dev
 * server (SQLite file, so a restart keeps every workflow), an MLflow server, gateways and workers
 * (`prograde gateway`, `prograde worker`, exactly as a user runs them). Each part can be killed -9,
 * frozen with SIGSTOP or restarted on the same port, so clients reconnect to the address they know.
 */

export interface GatewayProc {
  readonly index: number;
  readonly url: string;
  readonly port: number;
  readonly stateDir: string;
  /** The state dir is a small tmpfs of its own (the full-disk fault needs one). */
  readonly tmpfs: boolean;
  proc: NodeChild;
}

export interface WorkerProc {
  readonly index: number;
  proc: NodeChild | undefined;
  /** Temporal worker identity of the running process (`pid@host`, the SDK's default). */
  identity: string | undefined;
}

export interface StackOptions {
  readonly dir: string;
  readonly gateways: number;
  readonly workers: number;
  /** Size of gateway 0's tmpfs state dir; 0 = no tmpfs. */
  readonly tmpfsMiB: number;
  readonly log: (line: string) => void;
}

/** Admin actors of the gateways (docs/gateway.md "Access"): the worker's and the harness's own. */
export const WORKER_ADMIN_TOKEN = `worker-${randomBytes(16).toString('hex')}`;
export const HARNESS_ADMIN_TOKEN = `chaos-${randomBytes(16).toString('hex')}`;

const HOST = '127.0.0.1';

export class ChaosStack {
  /** Stacks not closed yet, so an interrupted run still stops its servers and unmounts its tmpfs. */
  static readonly open = new Set<ChaosStack>();
  temporal!: TemporalServer;
  mlflow!: MlflowServer;
  temporalPort = 0;
  mlflowPort = 0;
  readonly gateways: GatewayProc[] = [];
  readonly workers: WorkerProc[] = [];
  readonly taskQueue = `chaos-${randomBytes(4).toString('hex')}`;
  /** Gateways and workers that exited without being killed by the run (restarted, as a supervisor would). */
  readonly crashes: { name: string; atMs: number; exit: string; log: string }[] = [];
  /** Workers that exited 3 at start because Temporal was down for a fault (restarted; not crashes). */
  readonly refusedStarts: { name: string; atMs: number; exit: string; log: string }[] = [];
  /** Why the full-disk fault cannot run here; undefined when gateway 0 has its tmpfs. */
  tmpfsUnavailable: string | undefined;
  private readonly adminTokensFile: string;
  private closed = false;

  private constructor(readonly opts: StackOptions) {
    this.adminTokensFile = join(opts.dir, 'admin-tokens');
  }

  get temporalAddress(): string {
    return `${HOST}:${this.temporalPort}`;
  }

  static async start(opts: StackOptions): Promise<ChaosStack> {
    const s = new ChaosStack(opts);
    ChaosStack.open.add(s);
    mkdirSync(join(opts.dir, 'temporal'), { recursive: true });
    mkdirSync(join(opts.dir, 'mlflow'), { recursive: true });
    writeFileSync(s.adminTokensFile, `worker ${WORKER_ADMIN_TOKEN}\nchaos ${HARNESS_ADMIN_TOKEN}\n`, {
      mode: 0o600,
    });
    [s.temporal, s.mlflow] = await Promise.all([s.startFirstTemporal(), s.startMlflow()]);
    for (let i = 0; i < opts.gateways; i++) await s.addGateway(i);
    for (let i = 0; i < opts.workers; i++) {
      s.workers.push({ index: i, proc: undefined, identity: undefined });
      s.startWorker(i);
    }
    return s;
  }

  /** A port picked up front can be taken by a parallel test before the server binds it: try a few. */
  private async startFirstTemporal(): Promise<TemporalServer> {
    for (let attempt = 1; ; attempt++) {
      this.temporalPort = await freePort();
      try {
        return await this.startTemporal();
      } catch (e) {
        if (attempt >= 3) throw e;
      }
    }
  }

  /**
   * The dev server as src/devstack starts it (same flags, SQLite file, search attributes), but with
   * a readiness probe that tolerates a busy harness: a slow answer must not orphan a server that did
   * start, or the next restart fault would kill nothing.
   */
  private async startTemporal(): Promise<TemporalServer> {
    const dataDir = join(this.opts.dir, 'temporal');
    const proc = spawnService({
      name: 'Temporal dev server',
      command: toolPaths().temporal,
      args: [
        'server',
        'start-dev',
        '--ip',
        HOST,
        '--port',
        String(this.temporalPort),
        '--http-port',
        String(await freePort()),
        '--metrics-port',
        String(await freePort()),
        '--db-filename',
        join(dataDir, 'temporal.db'),
        '--log-level',
        'warn',
        '--headless',
        ...SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
      ],
      logFile: join(dataDir, 'temporal.log'),
    });
    try {
      await waitUntilReady(proc, () => this.temporalAnswers(), 300_000);
    } catch (e) {
      await proc.stop();
      throw e;
    }
    return { process: proc, address: this.temporalAddress, uiUrl: undefined };
  }

  private async temporalAnswers(): Promise<boolean> {
    const connection = await Connection.connect({ address: this.temporalAddress, connectTimeout: 10_000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  }

  /**
   * The first start takes whatever port MLflow gets (a port picked up front can be taken by a
   * parallel test before MLflow binds it: seen in CI); every restart must come back on that port.
   */
  private async startMlflow(): Promise<MlflowServer> {
    const first = this.mlflowPort === 0;
    const m = await startMlflowServer({
      dataDir: join(this.opts.dir, 'mlflow'),
      ...(first ? {} : { port: this.mlflowPort }),
      timeoutMs: 170_000,
    });
    if (first) this.mlflowPort = Number(new URL(m.url).port);
    if (m.url !== this.mlflowUrl) {
      await m.process.stop();
      throw new Error(`MLflow came back on ${m.url}, not ${this.mlflowUrl}`);
    }
    return m;
  }

  get mlflowUrl(): string {
    return `http://${HOST}:${this.mlflowPort}`;
  }

  get temporalVictim(): Victim {
    return { name: 'temporal', pid: this.temporal.process.pid, exited: this.temporal.process.exited };
  }

  get mlflowVictim(): Victim {
    return { name: 'mlflow', pid: this.mlflow.process.pid, exited: this.mlflow.process.exited };
  }

  /** kill -9 of the dev server, then a new one on the same port and the same SQLite file. */
  async restartTemporal(downMs: number): Promise<void> {
    await kill9(this.temporalVictim);
    await sleep(downMs);
    await untilPortFree(this.temporalPort);
    this.temporal = await this.startTemporal();
  }

  /** MLflow killed -9, gone for `downMs`, then started again on its port and its SQLite store. */
  async stopMlflow(downMs: number): Promise<void> {
    await kill9(this.mlflowVictim);
    await sleep(downMs);
    await untilPortFree(this.mlflowPort);
    this.mlflow = await this.startMlflow();
  }

  freezeMlflow(ms: number): Promise<void> {
    return freeze(this.mlflowVictim, ms);
  }

  private async addGateway(index: number): Promise<void> {
    const stateDir = join(this.opts.dir, `gateway-${index}`);
    mkdirSync(stateDir, { recursive: true });
    let tmpfs = false;
    if (index === 0 && this.opts.tmpfsMiB > 0) {
      try {
        execFileSync(
          'mount',
          ['-t', 'tmpfs', '-o', `size=${this.opts.tmpfsMiB}m,mode=0700`, 'tmpfs', stateDir],
          {
            stdio: 'pipe',
          },
        );
        tmpfs = true;
      } catch (e) {
        this.tmpfsUnavailable = `mount -t tmpfs on ${stateDir} failed: ${String((e as { stderr?: unknown }).stderr ?? e).trim()}`;
      }
    } else if (index === 0) this.tmpfsUnavailable = 'disabled for this run (tmpfsMiB 0)';
    const port = await freePort();
    const g: GatewayProc = {
      index,
      port,
      url: `http://${HOST}:${port}`,
      stateDir,
      tmpfs,
      proc: this.spawnGateway(index, port, stateDir),
    };
    this.gateways.push(g);
    this.superviseGateway(g);
    await this.untilGatewayReady(g, 120_000);
  }

  private spawnGateway(index: number, port: number, stateDir: string): NodeChild {
    return spawnPrograde(
      `gateway-${index}`,
      [
        'gateway',
        '--port',
        String(port),
        '--host',
        HOST,
        '--state-dir',
        stateDir,
        '--admin-tokens',
        this.adminTokensFile,
        // Predictions are logged under the state dir, so a full disk there reaches the data path too.
        '--prediction-log-rate',
        '0.2',
        '--log-level',
        'warn',
      ],
      { MLFLOW_TRACKING_URI: this.mlflowUrl, PROGRADE_LOG_LEVEL: 'warn' },
      join(this.opts.dir, 'logs', `gateway-${index}.log`),
      repoRoot,
    );
  }

  /** Ready = `/v2/health/ready` answers 200 (routing restored, served versions loaded). */
  async untilGatewayReady(g: GatewayProc, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ok = await fetch(`${g.url}/v2/health/ready`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return true;
      await sleep(250);
    }
    return false;
  }

  /** kill -9 of a gateway, down for `downMs`, then the same command on the same port and state dir. */
  async restartGateway(index: number, downMs: number): Promise<{ readyAfterMs: number | undefined }> {
    const g = this.gateway(index);
    await kill9(g.proc);
    await sleep(downMs);
    await untilPortFree(g.port);
    const started = Date.now();
    g.proc = this.spawnGateway(index, g.port, g.stateDir);
    this.superviseGateway(g);
    const ready = await this.untilGatewayReady(g, 90_000);
    return { readyAfterMs: ready ? Date.now() - started : undefined };
  }

  /**
   * A gateway that exits on its own is a defect the run counts; like systemd's Restart=always it is
   * started again a second later, so one crash does not stall every promotion after it.
   */
  private superviseGateway(g: GatewayProc): void {
    const proc = g.proc;
    void proc.ended.then(async (exit) => {
      if (proc.expectedExit || this.closed) return;
      const log = join(this.opts.dir, 'logs', `gateway-${g.index}.log`);
      this.crashes.push({ name: `gateway-${g.index}`, atMs: Date.now(), exit, log: logTail(log, 12) });
      this.opts.log(`CRASH: gateway-${g.index} exited (${exit}) without being killed; restarting it`);
      await sleep(1000);
      if (this.closed || g.proc !== proc) return;
      await untilPortFree(g.port).catch(() => undefined);
      g.proc = this.spawnGateway(g.index, g.port, g.stateDir);
      this.superviseGateway(g);
    });
  }

  freezeGateway(index: number, ms: number): Promise<void> {
    return freeze(this.gateway(index).proc, ms);
  }

  gateway(index: number): GatewayProc {
    const g = this.gateways[index];
    if (!g) throw new Error(`no gateway ${index}`);
    return g;
  }

  /**
   * Fills gateway 0's tmpfs state dir to the last byte for `ms`, then frees it: a real ENOSPC for
   * every write the gateway makes there (audit log, routing checkpoint, prediction log, model cache).
   */
  async fillDisk(ms: number): Promise<{ freeBefore: number; freeDuring: number }> {
    const g = this.gateway(0);
    if (!g.tmpfs) throw new Error(this.tmpfsUnavailable ?? 'no tmpfs');
    const free = (): number => {
      const s = statfsSync(g.stateDir);
      return s.bavail * s.bsize;
    };
    const freeBefore = free();
    const filler = join(g.stateDir, `chaos-filler-${Date.now()}`);
    const fd = openSync(filler, 'w');
    try {
      for (const chunk of [Buffer.alloc(1 << 20, 1), Buffer.alloc(4096, 1), Buffer.alloc(1, 1)]) {
        for (;;) {
          try {
            if (writeSync(fd, chunk) < chunk.length) break;
          } catch {
            break;
          }
        }
      }
      const freeDuring = free();
      await sleep(ms);
      return { freeBefore, freeDuring };
    } finally {
      closeSync(fd);
      unlinkSync(filler);
    }
  }

  startWorker(index: number): void {
    const w = this.workers[index];
    if (!w) throw new Error(`no worker ${index}`);
    const proc = spawnPrograde(
      `worker-${index}`,
      ['worker'],
      {
        TEMPORAL_ADDRESS: this.temporalAddress,
        TEMPORAL_NAMESPACE: 'default',
        PROGRADE_TASK_QUEUE: this.taskQueue,
        MLFLOW_TRACKING_URI: this.mlflowUrl,
        PROGRADE_WORK_DIR: join(this.opts.dir, `worker-${index}`),
        PROGRADE_GATEWAY_TOKEN: WORKER_ADMIN_TOKEN,
        PROGRADE_LOG_LEVEL: 'warn',
      },
      join(this.opts.dir, 'logs', `worker-${index}.log`),
      repoRoot,
    );
    w.proc = proc;
    w.identity = `${proc.pid}@${hostname()}`;
    void proc.ended.then(async (exit) => {
      if (proc.expectedExit || this.closed) return;
      const log = join(this.opts.dir, 'logs', `worker-${index}.log`);
      const tail = logTail(log, 12);
      // `prograde worker` started while the dev server is down for a fault says so and exits 3
      // (infrastructure): documented behaviour a supervisor handles, not a crash. Counted apart.
      if (exit === '3' && /TEMPORAL_UNREACHABLE/.test(tail)) {
        this.refusedStarts.push({ name: `worker-${index}`, atMs: Date.now(), exit, log: tail });
        this.opts.log(`worker-${index} could not reach Temporal at start (exit 3); restarting it`);
      } else {
        this.crashes.push({ name: `worker-${index}`, atMs: Date.now(), exit, log: tail });
        this.opts.log(`CRASH: worker-${index} exited (${exit}) without being killed; restarting it`);
      }
      await sleep(1000);
      if (!this.closed && w.proc === proc) this.startWorker(index);
    });
  }

  /** The worker whose Temporal identity is `identity`, if it is one of ours and alive. */
  workerByIdentity(identity: string | undefined | null): WorkerProc | undefined {
    if (!identity) return undefined;
    return this.workers.find((w) => w.identity === identity && w.proc !== undefined);
  }

  /** kill -9 of one worker process; restarted after `downMs` (it bundles the workflow code again). */
  async killWorker(index: number, downMs: number): Promise<void> {
    const w = this.workers[index];
    if (!w?.proc) return;
    const proc = w.proc;
    w.proc = undefined;
    w.identity = undefined;
    await kill9(proc);
    await sleep(downMs);
    if (!this.closed) this.startWorker(index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    ChaosStack.open.delete(this);
    for (const w of this.workers) if (w.proc) await kill9(w.proc);
    for (const g of this.gateways) await kill9(g.proc);
    await Promise.all([
      this.temporal?.process.stop().catch(() => undefined),
      this.mlflow?.process.stop().catch(() => undefined),
    ]);
    for (const g of this.gateways) {
      if (!g.tmpfs) continue;
      try {
        execFileSync('umount', [g.stateDir], { stdio: 'pipe' });
      } catch (e) {
        this.opts.log(`could not unmount ${g.stateDir}: ${String(e)}`);
      }
    }
  }
}
