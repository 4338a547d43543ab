import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register as registerGateway } from '../../src/cli/commands/gateway';
import { isTrusted, parseTrustFile } from '../../src/config/trust';

/**
 * The Helm chart (deploy/helm/prograde) checked with a real helm (infra/install-helm.sh builds it from
 * the Go module proxy into ~/.cache/prograde/tools/helm-<version>/; `npm test` starts that build in the
 * background at its beginning, and this file waits for it): `helm lint --strict`; strict decoding of every
 * rendered object with Kubernetes' own Go types (deploy/tools/kube-strict); then the rendered manifests,
 * parsed, for the things that make a deployment safe to run: probes on the gateway's OIP
 * health endpoints, PodDisruptionBudgets that select the pods, resources, graceful shutdown, every
 * credential from a Secret mounted where the process is told to look. Bad values must be refused by
 * values.schema.json before anything renders.
 */

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');
const chart = path.join(root, 'deploy/helm/prograde');
const mtlsValues = path.join(chart, 'ci/mtls-values.yaml');
const badValues = path.join(root, 'test/fixtures/helm/bad-values.yaml');

let helm: string;
let kubeStrict: string;
let scratch: string;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Mount {
  name: string;
  mountPath: string;
  subPath?: string;
}
interface Probe {
  httpGet: { path: string; port: string | number; scheme?: string };
}
interface Container {
  name: string;
  args: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts: Mount[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  livenessProbe: Probe;
  readinessProbe: Probe;
  startupProbe: Probe;
  lifecycle?: { preStop: { exec?: { command: string[] }; sleep?: { seconds: number } } };
}
interface Volume {
  name: string;
  secret?: { secretName: string };
  configMap?: { name: string };
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[]; volumes?: Volume[]; terminationGracePeriodSeconds: number };
}
/** The parts of rendered Kubernetes objects this test reads. */
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    replicas?: number;
    template: PodTemplate;
    serviceName?: string;
    clusterIP?: string;
    publishNotReadyAddresses?: boolean;
    selector: Record<string, string> & { matchLabels: Record<string, string> };
    maxUnavailable?: number | string;
    minAvailable?: number | string;
    volumeClaimTemplates?: { metadata: { name: string }; spec: unknown }[];
  };
  data?: Record<string, string>;
}
interface ChartValues {
  temporal: { address: string; namespace: string; taskQueue: string };
  mlflow: { trackingUri: string };
  worker: { replicas: number };
  gateway: { replicas: number };
}

async function helmRun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(helm, args, { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    };
  }
}

/** Runs kube-strict on a multi-document YAML stream. */
function strictDecode(yamlText: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(kubeStrict, [], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.on('error', reject);
    child.stdin?.end(yamlText);
  });
}

async function render(valueFiles: string[] = []): Promise<Manifest[]> {
  const out = await helmRun(['template', 'rel', chart, ...valueFiles.flatMap((f) => ['-f', f])]);
  expect(out.stderr, 'helm template').toBe('');
  expect(out.code).toBe(0);
  const docs = parseAllDocuments(out.stdout);
  for (const d of docs) expect(d.errors, 'rendered YAML parses').toEqual([]);
  return docs.map((d) => d.toJSON() as Manifest | null).filter((m): m is Manifest => m !== null);
}

function one(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  expect(found.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([`${kind}/${name}`]);
  return found[0] as Manifest;
}

function container(workload: Manifest, name: string): Container {
  const c = workload.spec.template.spec.containers.find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name} in ${workload.kind}/${workload.metadata.name}`);
  return c;
}

/** The env of a container as name → literal value, or `secret:<name>/<key>`. */
function envOf(c: Container): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    const field = e.valueFrom?.fieldRef;
    env.set(
      e.name,
      ref ? `secret:${ref.name}/${ref.key}` : field ? `field:${field.fieldPath}` : String(e.value),
    );
  }
  return env;
}

/** Which Secret (or ConfigMap) is mounted at the directory holding `file`, as `secret:<name>`. */
function sourceOfFile(workload: Manifest, c: Container, file: string): string | undefined {
  const mount = c.volumeMounts.find((m) => path.posix.dirname(file) === m.mountPath);
  if (!mount) return undefined;
  const volume = workload.spec.template.spec.volumes?.find((v) => v.name === mount.name);
  if (volume?.secret) return `secret:${volume.secret.secretName}`;
  if (volume?.configMap) return `configMap:${volume.configMap.name}`;
  return undefined;
}

function secretsReferenced(manifests: Manifest[]): Set<string> {
  const names = new Set<string>();
  for (const m of manifests) {
    if (!['Deployment', 'StatefulSet'].includes(m.kind)) continue;
    const pod = m.spec.template.spec;
    for (const v of pod.volumes ?? []) if (v.secret) names.add(v.secret.secretName);
    for (const c of pod.containers ?? [])
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) names.add(e.valueFrom.secretKeyRef.name);
  }
  return names;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'prograde-helm-'));
  // Waits for a build already running (the background one `npm test` starts) through its lock.
  const { stdout } = await run('bash', [path.join(root, 'infra/install-helm.sh')], {
    cwd: root,
    timeout: 25 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  helm = stdout.trim().split('\n').pop() ?? '';
  expect(helm).toMatch(/helm-v\d+\.\d+\.\d+\/helm$/);
  // Strict decoding with Kubernetes' own Go types; its modules and packages are helm's, so seconds now.
  const strict = await run('bash', [path.join(root, 'infra/install-kube-strict.sh')], {
    cwd: root,
    timeout: 10 * 60_000,
  });
  kubeStrict = strict.stdout.trim().split('\n').pop() ?? '';
  expect(kubeStrict).toMatch(/kube-strict-[0-9a-f]{12}\/kube-strict$/);
}, 26 * 60_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('deploy/helm/prograde', () => {
  it('lints clean with --strict, with the default values and with the 3-replica mTLS values', async () => {
    for (const files of [[], [mtlsValues]]) {
      const out = await helmRun(['lint', '--strict', chart, ...files.flatMap((f) => ['-f', f])]);
      expect(out.stdout + out.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(out.code).toBe(0);
    }
  });

  it('default values: workers and gateway replicas with OIP probes, PDBs, resources and a drain', async () => {
    const manifests = await render();
    const values = parseYaml(readFileSync(path.join(chart, 'values.yaml'), 'utf8')) as ChartValues;
    const worker = one(manifests, 'Deployment', 'rel-prograde-worker');
    const gateway = one(manifests, 'StatefulSet', 'rel-prograde-gateway');
    expect(worker.spec.replicas).toBe(values.worker.replicas);
    expect(gateway.spec.replicas).toBe(values.gateway.replicas);

    // Probes on the Open Inference Protocol health endpoints, on the port the gateway listens on.
    const gw = container(gateway, 'gateway');
    const port = gw.ports?.find((p) => p.name === 'http');
    expect(gw.args).toEqual(expect.arrayContaining(['--port', String(port?.containerPort)]));
    expect(gw.args.slice(gw.args.indexOf('--host'), gw.args.indexOf('--host') + 2)).toEqual([
      '--host',
      '0.0.0.0',
    ]);
    expect(gw.livenessProbe.httpGet).toMatchObject({ path: '/v2/health/live', port: 'http', scheme: 'HTTP' });
    expect(gw.readinessProbe.httpGet).toMatchObject({
      path: '/v2/health/ready',
      port: 'http',
      scheme: 'HTTP',
    });
    expect(gw.startupProbe.httpGet).toMatchObject({ path: '/v2/health/live', port: 'http' });

    // State in --state-dir on a volume per replica.
    const stateDir = gw.args[gw.args.indexOf('--state-dir') + 1] ?? '';
    expect(gw.volumeMounts).toContainEqual(expect.objectContaining({ name: 'state', mountPath: stateDir }));
    expect(gateway.spec.volumeClaimTemplates?.map((t) => t.metadata.name)).toEqual(['state']);

    // Requests on both, and a memory limit.
    const wk = container(worker, 'worker');
    for (const c of [gw, wk]) {
      expect(c.resources.requests.cpu).toBeTruthy();
      expect(c.resources.requests.memory).toBeTruthy();
      expect(c.resources.limits.memory).toBeTruthy();
    }

    // Graceful shutdown: the preStop sleep plus the gateway's 10 s drain fit in the grace period; the
    // worker's grace period covers its 10 s shutdownGraceTime.
    const [sleepCommand, sleep] = gw.lifecycle?.preStop.exec?.command ?? [];
    expect(sleepCommand).toBe('sleep');
    expect(gateway.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(Number(sleep) + 10);
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(10);

    // One PDB per component, selecting exactly its pods.
    const pdbs = manifests.filter((m) => m.kind === 'PodDisruptionBudget');
    expect(pdbs.map((p) => p.metadata.name).sort()).toEqual(['rel-prograde-gateway', 'rel-prograde-worker']);
    for (const [pdb, workload, other] of [
      [pdbs.find((p) => p.metadata.name.endsWith('gateway')), gateway, worker],
      [pdbs.find((p) => p.metadata.name.endsWith('worker')), worker, gateway],
    ] as const) {
      expect(pdb?.apiVersion).toBe('policy/v1');
      const sel = pdb?.spec.selector.matchLabels ?? {};
      expect(selects(sel, workload.spec.template.metadata.labels)).toBe(true);
      expect(selects(sel, other.spec.template.metadata.labels)).toBe(false);
      expect(pdb?.spec.maxUnavailable).toBe(1);
    }

    // Temporal through envconfig's own variables; MLflow for both.
    const env = envOf(wk);
    expect(env.get('TEMPORAL_ADDRESS')).toBe(values.temporal.address);
    expect(env.get('TEMPORAL_NAMESPACE')).toBe(values.temporal.namespace);
    expect(env.get('PROGRADE_TASK_QUEUE')).toBe(values.temporal.taskQueue);
    expect(envOf(gw).get('MLFLOW_TRACKING_URI')).toBe(values.mlflow.trackingUri);
    // Each replica names itself by its pod name in the audit and prediction logs.
    expect(envOf(gw).get('PROGRADE_GATEWAY_REPLICA_ID')).toBe('field:metadata.name');

    // Services: one for traffic, a headless one listing every replica (not-ready ones too).
    const headless = one(manifests, 'Service', 'rel-prograde-gateway-headless');
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(gateway.spec.serviceName).toBe('rel-prograde-gateway-headless');
    const svc = one(manifests, 'Service', 'rel-prograde-gateway');
    expect(selects(svc.spec.selector, gateway.spec.template.metadata.labels)).toBe(true);
    expect(selects(svc.spec.selector, worker.spec.template.metadata.labels)).toBe(false);

    // No credential in the defaults: nothing secret is referenced that the user did not name.
    expect([...secretsReferenced(manifests)]).toEqual([]);
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
  });

  it("every rendered object decodes strictly with Kubernetes' own types (no unknown or mistyped field)", async () => {
    for (const files of [[], [mtlsValues]]) {
      const rendered = await helmRun(['template', 'rel', chart, ...files.flatMap((f) => ['-f', f])]);
      expect(rendered.code).toBe(0);
      const checked = await strictDecode(rendered.stdout);
      expect(checked.stdout).toBe('');
      expect(checked.stderr).toMatch(/kube-strict: \d+ documents, 0 with errors/);
      expect(checked.code).toBe(0);
    }
    // The checker itself: a misspelt field in the pod spec and a string where a number belongs are refused.
    const rendered = (await helmRun(['template', 'rel', chart])).stdout;
    const broken = rendered
      .replace(/terminationGracePeriodSeconds: (\d+)/, 'terminationGracePeriod: $1')
      .replace(/periodSeconds: 5\b/, 'periodSeconds: "five"');
    expect(broken).not.toBe(rendered);
    const refused = await strictDecode(broken);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/unknown field "spec\.template\.spec\.terminationGracePeriod"/);
    expect(refused.stdout).toMatch(/StatefulSet\/rel-prograde-gateway: .*periodSeconds/);
  });

  it('the gateway arguments the chart renders are flags `prograde gateway` accepts', async () => {
    const program = new Command('prograde');
    registerGateway(program);
    const command = program.commands.find((c) => c.name() === 'gateway');
    const known = new Set(command?.options.map((o) => o.long));
    for (const files of [[], [mtlsValues]]) {
      const gw = container(one(await render(files), 'StatefulSet', 'rel-prograde-gateway'), 'gateway');
      expect(gw.args[0]).toBe('gateway');
      const flags = gw.args.filter((a) => a.startsWith('--'));
      expect(flags.length).toBeGreaterThan(5);
      for (const flag of flags) expect(known, flag).toContain(flag);
    }
  });

  it('3-replica mTLS values: every credential comes from a named Secret, mounted where the process looks', async () => {
    const manifests = await render([mtlsValues]);
    const worker = one(manifests, 'Deployment', 'rel-prograde-worker');
    const gateway = one(manifests, 'StatefulSet', 'rel-prograde-gateway');
    expect(worker.spec.replicas).toBe(3);
    expect(gateway.spec.replicas).toBe(3);
    const wk = container(worker, 'worker');
    const gw = container(gateway, 'gateway');
    const env = envOf(wk);

    // Temporal mTLS through envconfig: both files from the temporal-mtls Secret.
    for (const v of ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH']) {
      expect(sourceOfFile(worker, wk, env.get(v) ?? ''), v).toBe('secret:temporal-mtls');
    }
    expect(env.get('TEMPORAL_TLS_SERVER_NAME')).toBe('prod-ns.a1b2c.tmprl.cloud');
    expect(env.has('TEMPORAL_TLS_SERVER_CA_CERT_PATH')).toBe(false); // caKey "" in the values: public CA
    expect(env.has('TEMPORAL_API_KEY')).toBe(false);

    // MLflow: credentials and CA bundle from Secrets, for the worker and the gateway alike.
    for (const [workload, c] of [
      [worker, wk],
      [gateway, gw],
    ] as const) {
      const e = envOf(c);
      expect(e.get('MLFLOW_TRACKING_USERNAME')).toBe('secret:mlflow-auth/username');
      expect(e.get('MLFLOW_TRACKING_PASSWORD')).toBe('secret:mlflow-auth/password');
      expect(sourceOfFile(workload, c, e.get('MLFLOW_TRACKING_SERVER_CERT_PATH') ?? '')).toBe(
        'secret:mlflow-ca',
      );
    }

    // Gateway credential files from Secrets, mounted as directories (a subPath mount never sees a rotation).
    const arg = (flag: string): string => gw.args[gw.args.indexOf(flag) + 1] ?? '';
    expect(sourceOfFile(gateway, gw, arg('--admin-tokens'))).toBe('secret:prograde-gateway-admin-tokens');
    expect(sourceOfFile(gateway, gw, arg('--inference-keys'))).toBe('secret:prograde-gateway-inference-keys');
    expect(sourceOfFile(gateway, gw, arg('--tls-cert'))).toBe('secret:prograde-gateway-tls');
    expect(sourceOfFile(gateway, gw, arg('--tls-key'))).toBe('secret:prograde-gateway-tls');
    expect(gw.args).toContain('--protect-metrics');
    for (const c of [gw, wk]) for (const m of c.volumeMounts) expect(m.subPath, m.name).toBeUndefined();

    // HTTPS gateway: probes switch scheme; the worker trusts the gateway's CA and sends its admin token.
    expect(gw.livenessProbe.httpGet).toMatchObject({ path: '/v2/health/live', scheme: 'HTTPS' });
    expect(gw.readinessProbe.httpGet).toMatchObject({ path: '/v2/health/ready', scheme: 'HTTPS' });
    expect(sourceOfFile(worker, wk, env.get('PROGRADE_GATEWAY_CA_BUNDLE') ?? '')).toBe(
      'secret:prograde-gateway-tls',
    );
    expect(env.get('PROGRADE_GATEWAY_TOKEN')).toBe('secret:prograde-worker-gateway-token/token');

    // The trust file from the ConfigMap the chart renders, holding the values' content.
    const trustFile = env.get('PROGRADE_TRUST_FILE') ?? '';
    expect(sourceOfFile(worker, wk, trustFile)).toBe('configMap:rel-prograde-trust');
    const trust = one(manifests, 'ConfigMap', 'rel-prograde-trust');
    // …which the worker's own parser accepts, trusting alice to approve fraud models.
    const parsedTrust = parseTrustFile(trustFile, trust.data?.[path.posix.basename(trustFile)] ?? '');
    expect(isTrusted(parsedTrust, 'fraud-detector', 'alice', 'approve')).toBe(true);
    expect(isTrusted(parsedTrust, 'credit-risk', 'alice', 'approve')).toBe(false);

    // Exactly the Secrets the values name, no more.
    expect([...secretsReferenced(manifests)].sort()).toEqual(
      [
        'mlflow-auth',
        'mlflow-ca',
        'prograde-gateway-admin-tokens',
        'prograde-gateway-inference-keys',
        'prograde-gateway-tls',
        'prograde-worker-gateway-token',
        'temporal-mtls',
      ].sort(),
    );

    // minAvailable given in the values wins over the default maxUnavailable.
    const workerPdb = one(manifests, 'PodDisruptionBudget', 'rel-prograde-worker');
    expect(workerPdb.spec).toMatchObject({ minAvailable: 2 });
    expect(workerPdb.spec.maxUnavailable).toBeUndefined();
    // The Kubernetes sleep action instead of a sleep binary, inside a longer grace period.
    expect(gw.lifecycle?.preStop).toEqual({ sleep: { seconds: 10 } });
    expect(gateway.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(10 + 10);
    expect(gateway.spec.volumeClaimTemplates?.[0]?.spec).toMatchObject({
      storageClassName: 'fast-ssd',
      resources: { requests: { storage: '20Gi' } },
    });
  });

  it('Temporal Cloud API key, a temporal.toml profile, ephemeral gateway state', async () => {
    const file = path.join(scratch, 'api-key.yaml');
    writeFileSync(
      file,
      [
        'temporal:',
        '  address: us-east-1.aws.api.temporal.io:7233',
        '  apiKey: { existingSecret: temporal-api-key }',
        '  configFile: { existingSecret: temporal-toml, profile: prod }',
        'gateway:',
        '  persistence: { enabled: false }',
        '  preStop: { sleepSeconds: 0 }',
      ].join('\n'),
    );
    const manifests = await render([file]);
    const worker = one(manifests, 'Deployment', 'rel-prograde-worker');
    const wk = container(worker, 'worker');
    const env = envOf(wk);
    expect(env.get('TEMPORAL_API_KEY')).toBe('secret:temporal-api-key/api-key');
    expect(sourceOfFile(worker, wk, env.get('TEMPORAL_CONFIG_FILE') ?? '')).toBe('secret:temporal-toml');
    expect(env.get('TEMPORAL_PROFILE')).toBe('prod');
    expect(env.has('TEMPORAL_TLS_CLIENT_CERT_PATH')).toBe(false);
    const gateway = one(manifests, 'StatefulSet', 'rel-prograde-gateway');
    expect(gateway.spec.volumeClaimTemplates).toBeUndefined();
    const state = gateway.spec.template.spec.volumes?.find((v) => v.name === 'state') as {
      emptyDir?: object;
    };
    expect(state.emptyDir).toEqual({});
    expect(container(gateway, 'gateway').lifecycle).toBeUndefined();
  });

  it('refuses bad values through values.schema.json, naming each mistake, before anything renders', async () => {
    for (const verb of [
      ['lint', '--strict', chart],
      ['template', 'rel', chart],
    ]) {
      const out = await helmRun([...verb, '-f', badValues]);
      expect(out.code, verb[0]).not.toBe(0);
      const text = out.stdout + out.stderr;
      expect(text).toMatch(/values don't meet the specifications of the schema/);
      expect(text).toMatch(/gateway\.replicas|\/gateway\/replicas/);
      expect(text).toMatch(/temporal\.address|\/temporal\/address/);
      expect(text).toMatch(/worker\.replicas|\/worker\/replicas/);
      expect(text).toMatch(/mlflow\.trackingUri|\/mlflow\/trackingUri/);
      expect(text).toMatch(/additional propert(y|ies) 'replica' not allowed/);
      expect(text).not.toContain('kind: Deployment');
    }
  });

  it('refuses combinations the schema cannot express, with the chart’s own message', async () => {
    const cases: [string, string, RegExp][] = [
      ['two-trust', 'trust:\n  content: "people: {}"\n  existingSecret: trust\n', /set only one of content/],
      [
        'half-mtls',
        'temporal:\n  tls:\n    existingSecret: t\n    caKey: ""\n    certKey: tls.crt\n    keyKey: ""\n',
        /certKey and temporal\.tls\.keyKey go together/,
      ],
      ['no-temporal', 'temporal:\n  address: ""\n', /temporal\.address \(host:port\) or/],
    ];
    for (const [name, text, message] of cases) {
      const file = path.join(scratch, `${name}.yaml`);
      writeFileSync(file, text);
      const out = await helmRun(['template', 'rel', chart, '-f', file]);
      expect(out.code, name).not.toBe(0);
      expect(out.stderr, name).toMatch(message);
    }
  });
});
