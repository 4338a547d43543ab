// The layers of src/ and the lint rules that keep imports pointing down them. eslint.config.mjs
// applies these; test/unit/lint-layers.test.ts lints a planted violation of every boundary with them.
import { builtinModules } from 'node:module';

/**
 * Lowest first. A folder (or a file directly in src/) may import itself and the layers below it: never
 * a layer above, and never another folder of its own layer (except in the foundation). Vocabulary
 * sits low so that every layer shares it downward.
 */
export const LAYERS = [
  // errors, codes, logging and input-file reading: everything may use them (and they use each other).
  { name: 'foundation', members: ['errors', 'error-codes', 'logging', 'input-file'], siblings: true },
  // Pure leaves that know nothing of promotions: statistics (and metric names), ONNX, the routing
  // shape the spec and the gateway share, dataset files, signed-decision checks (identity, sandbox-safe),
  // OpenTelemetry tracing (telemetry: the gateway, the client, the worker and the CLI use it).
  { name: 'leaves', members: ['stats', 'onnx', 'routing', 'dataset', 'identity', 'telemetry'] },
  // The MLflow client and the promotion.yaml schema.
  { name: 'sources', members: ['mlflow', 'spec'] },
  // The neutral, sandbox-safe vocabulary: state, activity contracts, verdicts, search attributes.
  { name: 'vocabulary', members: ['promotion'] },
  // Judging and reporting on data already in hand, the local stack, sample data.
  { name: 'domain', members: ['gates', 'report', 'devstack', 'samples'] },
  // Judging live statistics, and running the offline gates on files.
  { name: 'judging', members: ['live', 'evaluation'] },
  // The serving gateway: it judges nothing, and the judges read its statistics as data.
  { name: 'gateway', members: ['serving'] },
  // Composites: registry records (rollback drives the gateway), the traffic generator, connections.
  { name: 'composites', members: ['records', 'traffic', 'config'] },
  // Temporal activities: thin adapters over everything below.
  { name: 'activities', members: ['activities'] },
  // Temporal workflows: deterministic, and they see activities as types only.
  { name: 'workflows', members: ['workflows'] },
  // Starting, following and steering promotions from outside.
  { name: 'client', members: ['client'] },
  // Starting promotions from MLflow registry webhooks: a client of Temporal, like the CLI.
  { name: 'webhook', members: ['webhook'] },
  { name: 'worker', members: ['worker'] },
  { name: 'demo', members: ['demo'] },
  { name: 'cli', members: ['cli'] },
];

const layerOf = new Map(LAYERS.flatMap((layer, rank) => layer.members.map((m) => [m, rank])));

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every Node built-in, with and without `node:`, subpaths included (`timers/promises`, `fs/promises`…). */
export const NODE_BUILTINS = [
  ...new Set(
    builtinModules.flatMap((m) => [m.replace(/^node:/, ''), m.startsWith('node:') ? m : `node:${m}`]),
  ),
].sort();

// What workflow code (Temporal's deterministic sandbox) may not load even though it is below: modules
// that do I/O or load native code (spec/ reads files). Types from them are fine: they are erased before
// bundling.
const NOT_SANDBOX_SAFE = [
  'activities',
  'config',
  'dataset',
  'devstack',
  'evaluation',
  'gates',
  'input-file',
  'logging',
  'mlflow',
  'onnx',
  'records',
  'report',
  'samples',
  'serving',
  'spec',
  'traffic',
];
// Of live/, only the alpha-spending plan is pure and needed by the workflow.
const LIVE_SANDBOX_SAFE = ['alpha-spending'];

// Workflow code runs in the sandbox, and so does the vocabulary it loads.
const SANDBOXED = ['workflows', 'promotion'];

/** The prefix a relative import from a file `depth` folders below src/ starts with to reach src/. */
const toSrc = (depth) => (depth === 0 ? '\\./' : '(?:\\.\\./){' + depth + '}');

function layerPatterns(member, depth) {
  const rank = layerOf.get(member);
  const layer = LAYERS[rank];
  const siblings = layer.siblings ? [] : layer.members.filter((m) => m !== member);
  const banned = [...siblings, ...LAYERS.slice(rank + 1).flatMap((l) => l.members)];
  if (banned.length === 0) return [];
  return [
    {
      regex: `^${toSrc(depth)}(?:${banned.map(escape).join('|')})(?:/|$)`,
      message: `Layer '${layer.name}' (${member}) may import only itself and the layers below it; see eslint.layers.mjs.`,
    },
  ];
}

function sandboxRules(depth) {
  return {
    paths: NODE_BUILTINS.map((name) => ({
      name,
      message: 'Workflow code runs in the deterministic sandbox: no Node built-ins or I/O.',
    })),
    patterns: [
      {
        // Anything with the node: scheme, including built-ins newer than this Node.
        regex: '^node:',
        message: 'Workflow code runs in the deterministic sandbox: no Node built-ins or I/O.',
      },
      {
        regex: `^${toSrc(depth)}(?:${NOT_SANDBOX_SAFE.map(escape).join('|')})(?:/|$)`,
        allowTypeImports: true,
        message:
          'Workflow code may load only sandbox-safe modules; import this as a type, or via an activity.',
      },
      {
        regex: `^${toSrc(depth)}live/(?!(?:${LIVE_SANDBOX_SAFE.join('|')})$)`,
        allowTypeImports: true,
        message: 'Of live/, workflow code may load only alpha-spending (pure); the judges run in activities.',
      },
    ],
  };
}

/** The flat-config blocks: one per folder and depth, so every import is matched against its own src/. */
export function layerConfigs() {
  const blocks = [];
  for (const member of layerOf.keys()) {
    const rootFile = ['errors', 'error-codes', 'logging', 'input-file', 'worker'].includes(member);
    const depths = rootFile ? [0] : [1, 2, 3];
    for (const depth of depths) {
      const files = rootFile
        ? [`src/${member}.ts`]
        : [`src/${member}/${Array.from({ length: depth - 1 }, () => '*/').join('')}*.ts`];
      const patterns = layerPatterns(member, depth);
      const sandbox = SANDBOXED.includes(member) ? sandboxRules(depth) : undefined;
      const rule = sandbox
        ? { paths: sandbox.paths, patterns: [...patterns, ...sandbox.patterns] }
        : { patterns };
      if (rule.patterns.length === 0 && !rule.paths) continue;
      blocks.push({ files, rules: { 'no-restricted-imports': ['error', rule] } });
    }
  }
  return blocks;
}
