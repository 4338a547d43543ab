/**
 * The closed catalogue of every error code prograde raises, each with the exit class the CLI ends
 * with when that error reaches it. Codes are part of the interface (logs, `[CODE]` on stderr, the
 * gateway's JSON errors, Temporal failure types), so they are listed here once and never reworded;
 * `ProgradeError.code` is typed `ErrorCode`, so a code that is not listed is a type error.
 *
 * Why the exit class lives here and the retry class does not: how an error ends a CLI run is a
 * property of what went wrong (a bad spec is always the caller's), whereas whether one attempt is
 * worth repeating can depend on the occurrence (an MLflow 503 and 400 share `MLFLOW_HTTP_ERROR`, a
 * version still PENDING or already FAILED share a code family), so the retry class stays with the
 * raise site and travels on the error.
 *
 * Exit classes (src/cli/exit-codes.ts): `invalid-input` (2) — the spec, a flag, a file or a request
 * is wrong and nothing was done; `rejected` (1) — a model was judged and refused; `infrastructure`
 * (3) — a server, the network or the machine failed. The CLI's exit code is a lookup in this table,
 * never a match on the spelling of a code.
 *
 * MLflow reports its own `error_code` strings, which the server may extend. The ones it is known to
 * send are listed as `MLFLOW_<error_code>`; any other becomes `MLFLOW_SERVER_ERROR` with the server's
 * code kept in `serverErrorCode` (see `mlflowServerCode`). An HTTP error without MLflow's JSON body is
 * `MLFLOW_HTTP_ERROR` with the status in `status`.
 *
 * No Node imports: workflow code may import this module.
 */

export type ExitClass = 'invalid-input' | 'rejected' | 'infrastructure';

interface CodeInfo {
  readonly exit: ExitClass;
  readonly summary: string;
}

const input = (summary: string): CodeInfo => ({ exit: 'invalid-input', summary });
const infra = (summary: string): CodeInfo => ({ exit: 'infrastructure', summary });

/** The MLflow `error_code` values prograde recognises; any other maps to `MLFLOW_SERVER_ERROR`. */
export const MLFLOW_SERVER_CODES = [
  'RESOURCE_DOES_NOT_EXIST',
  'RESOURCE_ALREADY_EXISTS',
  'INVALID_PARAMETER_VALUE',
  'INVALID_STATE',
  'BAD_REQUEST',
  'MALFORMED_REQUEST',
  'ENDPOINT_NOT_FOUND',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'FEATURE_DISABLED',
  'NOT_IMPLEMENTED',
  'REQUEST_LIMIT_EXCEEDED',
  'RESOURCE_LIMIT_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'TEMPORARILY_UNAVAILABLE',
  'INTERNAL_ERROR',
] as const;
export type MlflowServerCode = (typeof MLFLOW_SERVER_CODES)[number];

export const ERROR_CODES = {
  // --- input given to the CLI: specs, flags, files -------------------------------------------
  INVALID_INPUT: input('a flag, argument or value given to prograde is wrong'),
  SPEC_INVALID: input('the promotion spec is not valid'),
  SPEC_NOT_FOUND: input('the spec file does not exist'),
  SPEC_NOT_A_FILE: input('the spec path is a directory, FIFO, device or socket'),
  SPEC_TOO_LARGE: input('the spec file is larger than prograde reads'),
  SPEC_UNREADABLE: input('the spec file cannot be read (permissions, link loop)'),
  WEBHOOK_SPECS_INVALID: input("the webhook's --specs folder is missing, empty or holds an invalid spec"),
  WEBHOOK_SECRET_MISSING: input('the webhook needs the secret MLflow signs deliveries with'),
  WEBHOOK_UNAUTHORIZED: input('a webhook delivery whose signature or timestamp does not check out'),
  WEBHOOK_UNKNOWN_MODEL: input('a webhook delivery for a model no promotion spec is registered for'),
  WEBHOOK_BAD_REQUEST: input('a webhook request with a wrong path, method, size or payload'),
  WEBHOOK_UNAVAILABLE: infra('the webhook could not reach Temporal or MLflow to act on a delivery'),
  INPUT_FILE_INVALID: input('a file named on the command line is missing or not a regular file'),
  DATASET_INVALID: input('a dataset CSV is malformed or does not fit the model'),
  MLFLOW_CONFIG_INVALID: input('the MLflow settings in the environment are wrong'),
  TELEMETRY_CONFIG_INVALID: input(
    'the OpenTelemetry settings in the environment (OTEL_EXPORTER_OTLP_*) are wrong',
  ),
  TLS_CONFIG_INVALID: input(
    'a CA bundle, client certificate or key named in the environment is missing or not PEM',
  ),
  TRAFFIC_TARGET_REFUSED: input('the traffic target is not a loopback gateway and --allow-remote is not set'),
  DECISION_REFUSED: input('the promotion refused an approve/reject/operator request'),
  TRUST_FILE_INVALID: input(
    'the trust file (PROGRADE_TRUST_FILE) is missing, malformed, or lists a key that is not ssh-ed25519',
  ),
  IDENTITY_NOT_TRUSTED: input(
    'the spec names an approver or operator the trust file does not trust for the model',
  ),
  SIGNING_FAILED: input('ssh-keygen could not sign the decision (no key, wrong passphrase, no agent)'),
  PROMOTION_NOT_FOUND: input('no promotion with that id exists (or none is open)'),
  NO_PREVIOUS_CHAMPION: input('the champion was not promoted over an earlier one; nothing to roll back to'),

  // --- register: the refusal and the problems it lists ---------------------------------------
  REGISTRATION_INVALID: input('register refused the model, its names or tags; nothing was written'),
  MODEL_NAME_INVALID: input('the registered model name is one MLflow would refuse'),
  ALIAS_INVALID: input('the alias is one MLflow would refuse'),
  TAG_INVALID: input('a --tag is malformed, repeated or one MLflow would refuse'),
  EXPERIMENT_NAME_INVALID: input('the experiment name is one MLflow would refuse'),
  EXPERIMENT_DELETED: input('the experiment exists but is deleted'),
  MODEL_FILE_INVALID: input('the model file is missing or not a regular file'),
  ONNX_SIGNATURE_INVALID: input('the model signature cannot be served'),
  ONNX_EXTERNAL_DATA: input('the model keeps weights in external files'),
  ONNX_TOO_LARGE: input('the model is past what a self-contained ONNX file can be'),

  // --- model content ---------------------------------------------------------------------------
  ONNX_CORRUPT: input('the bytes are not an ONNX ModelProto'),
  ONNX_LOAD_FAILED: input('onnxruntime refuses to load the model'),
  ONNX_RUN_FAILED: infra('onnxruntime failed while running the model'),
  SCORE_INPUT_INVALID: input('the features do not fit the model input'),
  SCORE_OUTPUT_UNSUPPORTED: infra('the model has no output prograde can read a score from'),
  MLMODEL_INVALID: input('the MLmodel file of a version is malformed'),
  MLMODEL_MISSING: infra('a model version has no MLmodel file'),
  // The candidate itself can never pass, however often it is retried: the promotion is rejected.
  MODEL_NOT_ONNX: { exit: 'rejected', summary: 'a model version has no ONNX flavour' },
  MODEL_FILES_MISSING: infra('a model version has no files'),
  ONNX_FILE_MISSING: infra('the ONNX file of a model version is not among its files'),
  MODEL_CHANGED: infra('a model version changed in MLflow during the promotion'),
  MODEL_VERSION_FAILED: infra('the candidate version failed registration in MLflow'),
  MODEL_VERSION_NOT_READY: infra('the candidate version is not READY in MLflow'),

  // --- statistics --------------------------------------------------------------------------------
  METRIC_UNDEFINED: infra('a statistic has no value for this data (e.g. AUC with one class)'),
  NON_FINITE_INPUT: infra('model output or data contains NaN or infinity'),
  STATS_INVALID_INPUT: input('arrays that must be paired differ in length, or an argument is out of range'),

  // --- MLflow -------------------------------------------------------------------------------------
  MLFLOW_RESOURCE_DOES_NOT_EXIST: infra('MLflow: the resource does not exist'),
  MLFLOW_RESOURCE_ALREADY_EXISTS: infra('MLflow: the resource already exists'),
  MLFLOW_INVALID_PARAMETER_VALUE: infra('MLflow refused a parameter value'),
  MLFLOW_INVALID_STATE: infra('MLflow: the resource is in the wrong state'),
  MLFLOW_BAD_REQUEST: infra('MLflow: bad request'),
  MLFLOW_MALFORMED_REQUEST: infra('MLflow: malformed request'),
  MLFLOW_ENDPOINT_NOT_FOUND: infra('MLflow does not have this endpoint (server too old?)'),
  MLFLOW_PERMISSION_DENIED: infra('MLflow: permission denied'),
  MLFLOW_UNAUTHENTICATED: infra('MLflow: not authenticated'),
  MLFLOW_FEATURE_DISABLED: infra('MLflow: the feature is disabled on this server'),
  MLFLOW_NOT_IMPLEMENTED: infra('MLflow: not implemented by this server'),
  MLFLOW_REQUEST_LIMIT_EXCEEDED: infra('MLflow: too many requests'),
  MLFLOW_RESOURCE_LIMIT_EXCEEDED: infra('MLflow: a resource limit is exceeded'),
  MLFLOW_RESOURCE_EXHAUSTED: infra('MLflow: resources exhausted'),
  MLFLOW_TEMPORARILY_UNAVAILABLE: infra('MLflow is temporarily unavailable'),
  MLFLOW_INTERNAL_ERROR: infra('MLflow had an internal error'),
  MLFLOW_SERVER_ERROR: infra(
    "MLflow answered with an error_code prograde does not list (kept in 'serverErrorCode')",
  ),
  MLFLOW_HTTP_ERROR: infra("MLflow answered an HTTP error without its JSON error body (status in 'status')"),
  MLFLOW_UNREACHABLE: infra('MLflow could not be reached'),
  MLFLOW_TLS_FAILED: infra(
    'the TLS handshake with MLflow failed on a certificate (untrusted, wrong host, expired)',
  ),
  MLFLOW_TIMEOUT: infra('MLflow did not answer in time'),
  MLFLOW_BAD_RESPONSE: infra('MLflow answered with a body of the wrong shape'),
  MLFLOW_ARTIFACT_URI_UNSUPPORTED: infra('an artifact URI uses a scheme prograde cannot fetch'),
  MLFLOW_REGISTRATION_FAILED: infra('MLflow marked the model version FAILED_REGISTRATION'),
  MLFLOW_REGISTRATION_TIMEOUT: infra('a model version stayed PENDING_REGISTRATION too long'),
  MLFLOW_VERSION_NOT_READY: infra('a model version is not READY yet'),
  ARTIFACT_PATH_ESCAPE: infra('an artifact path from MLflow would leave the cache directory'),
  ARTIFACT_SIZE_MISMATCH: infra('an artifact arrived with a different size than listed'),

  // --- Temporal, the local stack, promotions --------------------------------------------------
  TEMPORAL_UNREACHABLE: infra('Temporal could not be reached'),
  TEMPORAL_TLS_FAILED: infra(
    'the TLS handshake with Temporal failed on a certificate (untrusted, wrong host, expired)',
  ),
  TOOLS_MISSING: infra('the Temporal CLI or MLflow server is not installed'),
  SERVICE_START_FAILED: infra('a local service could not be started'),
  SERVICE_NOT_READY: infra('a local service did not become ready'),
  PROMOTION_FAILED: infra('a promotion ended without a result'),
  LIVE_WATCH_CANCELLED: infra('a shadow or canary watch was cancelled'),
  PROMETHEUS_UNREACHABLE: infra(
    'the Prometheus server of a canary analysis could not be reached, timed out or answered 5xx',
  ),
  PROMETHEUS_QUERY_FAILED: infra('Prometheus refused a canary analysis query (bad PromQL, 4xx)'),
  PROMETHEUS_BAD_RESPONSE: infra(
    'Prometheus answered something that is not its query API, or series without the labels the analysis needs',
  ),
  PROMETHEUS_TOKEN_MISSING: infra('the worker has no token for the Prometheus server of a canary analysis'),

  // --- the gateway's admin API, as seen by its clients -----------------------------------------
  GATEWAY_TOKEN_MISSING: infra('the worker has no gateway admin token'),
  GATEWAY_UNREACHABLE: infra('the gateway could not be reached'),
  GATEWAY_TLS_FAILED: infra(
    'the TLS handshake with the gateway failed on a certificate (untrusted, wrong host, expired)',
  ),
  GATEWAY_BAD_RESPONSE: infra('the gateway answered something that is not its API'),
  GATEWAY_UNAUTHORIZED: infra('the gateway refused the admin token'),
  GATEWAY_MODEL_NOT_FOUND: infra('the gateway has no such model'),
  GATEWAY_ROUTING_CONFLICT: infra('the gateway refused a routing change as conflicting'),
  GATEWAY_VERSION_REJECTED: infra('the gateway could not load a version'),
  GATEWAY_UNAVAILABLE: infra('the gateway answered 5xx'),
  GATEWAY_REQUEST_INVALID: input('the gateway refused an admin request as malformed'),
  GATEWAY_CREDENTIALS_INVALID: input(
    'a gateway credentials file (inference keys, admin tokens) is not valid',
  ),
  GATEWAY_TLS_INVALID: input("the gateway's TLS certificate or key cannot be used"),
  GATEWAY_QUORUM_NOT_MET: infra(
    'fewer gateway replicas than the target’s quorum applied a routing change or reported statistics',
  ),
  GATEWAY_REPLICAS_UNRESOLVED: infra("the DNS name of a target's gateway replicas could not be resolved"),
  GATEWAY_DNS_SERVERS_INVALID: input(
    'PROGRADE_GATEWAY_DNS_SERVERS is not a comma-separated list of host[:port]',
  ),
  TRAFFIC_METADATA_UNAVAILABLE: infra("the model's input metadata could not be read from the gateway"),

  // --- the gateway's HTTP errors (the JSON `code` of a 4xx/5xx) --------------------------------
  SERVING_BODY_INVALID: input('the request body is not valid JSON/UTF-8 or has the wrong length'),
  SERVING_BODY_INCOMPLETE: input('the request body ended early'),
  SERVING_BODY_TIMEOUT: input('the request body did not arrive in time'),
  SERVING_BODY_TOO_LARGE: input('the request body is over the limit'),
  SERVING_BODY_TOO_DEEP: input('the JSON body nests too deeply'),
  SERVING_CONTENT_TYPE_UNSUPPORTED: input('the request Content-Type is not JSON'),
  SERVING_CONTENT_ENCODING_UNSUPPORTED: input('the request Content-Encoding is not supported'),
  SERVING_HEADERS_TOO_LARGE: input('the request headers are over the limit'),
  SERVING_HTTP_INVALID: input('the HTTP request is malformed'),
  SERVING_REQUEST_TIMEOUT: input('the request was not received in time'),
  SERVING_URL_INVALID: input('the request target is not a valid URL path'),
  SERVING_NAME_INVALID: input('a model name or version has characters the gateway refuses'),
  SERVING_REQUEST_INVALID: input('the inference request does not fit the model'),
  SERVING_TOO_MANY_ROWS: input('the inference request has too many rows'),
  SERVING_ROUTING_INVALID: input('a routing document is not valid'),
  SERVING_METHOD_NOT_ALLOWED: input('the HTTP method is not allowed on this route'),
  SERVING_ROUTE_NOT_FOUND: input('no such route'),
  SERVING_MODEL_REQUIRED: input('the request names no model'),
  SERVING_UNAUTHORIZED: input('the bearer token (admin token or inference key) is missing or wrong'),
  SERVING_ADMIN_DISABLED: input('the admin API is disabled (no token configured)'),
  SERVING_FORCE_VARIANT_DISABLED: input('forcing a variant is disabled on this gateway'),
  SERVING_FORCE_VARIANT_FORBIDDEN: input('forcing a variant needs an admin token'),
  SERVING_POOL_SIZE_INVALID: input('the inference pool size is out of range'),
  SERVING_MODEL_NOT_FOUND: input('the gateway has no such model'),
  SERVING_VERSION_NOT_FOUND: input('the model version does not exist'),
  SERVING_VERSION_NOT_SERVED: input('the requested version is not routed'),
  SERVING_NO_CANARY: input('a canary was requested but none is routed'),
  SERVING_GENERATION_UNKNOWN: input('the routing generation is unknown'),
  SERVING_ROUTING_CONFLICT: input('the routing change conflicts with the current routing'),
  SERVING_SIGNATURE_MISMATCH: input('the new version does not have the signature of the routed one'),
  SERVING_RATE_LIMITED: infra('the gateway is rate limiting this model'),
  SERVING_OVERLOADED: infra('the gateway is over its admission budget'),
  SERVING_TOO_MANY_CONNECTIONS: infra('the gateway is at its connection limit'),
  SERVING_REGISTRY_BUSY: infra('too many registry lookups are in flight'),
  SERVING_REGISTRY_TIMEOUT: infra('a registry lookup timed out'),
  SERVING_REGISTRY_UNAVAILABLE: infra('the registry could not be asked'),
  SERVING_SHUTTING_DOWN: infra('the gateway is shutting down'),
  SERVING_NOT_READY: infra('the gateway is still restoring its models'),
  SERVING_NO_ROUTING: infra('no model is routed yet'),
  SERVING_VERSION_NOT_READY: infra('the model version is still loading or failed to load'),
  SERVING_VERSION_NOT_LOADED: infra('the model version is not loaded in this worker'),
  SERVING_MODEL_FETCH_FAILED: infra('fetching a model from MLflow failed'),
  SERVING_MODEL_LOAD_FAILED: infra('loading a model into the gateway failed'),
  SERVING_WARMUP_FAILED: infra('the warm-up inference of a model failed'),
  SERVING_UNSUPPORTED_INPUT: infra('the model has an input the gateway cannot serve'),
  SERVING_UNSUPPORTED_OUTPUT: infra('the model has no numeric output the gateway can serve'),
  SERVING_OUTPUT_NOT_BATCHED: infra('a model output has no batch dimension'),
  SERVING_BATCH_MISMATCH: infra('a batched request lacks an input'),
  SERVING_INFERENCE_FAILED: infra('inference failed'),
  SERVING_INLINE_UNAVAILABLE: infra('onnxruntime-node offers no synchronous native session for inline runs'),
  SERVING_NON_FINITE_OUTPUT: infra('the model returned NaN or infinity'),
  SERVING_PARSE_FAILED: infra('the parse thread failed on a request'),
  SERVING_PARSE_THREAD_CRASHED: infra('the parse thread crashed'),
  SERVING_WORKER_CRASHED: infra('an inference worker crashed'),
  SERVING_WORKER_FAILED: infra('an inference worker answered unexpectedly'),
  SERVING_POOL_CLOSED: infra('the inference pool is closed'),
  SERVING_STATE_CORRUPT: infra("the gateway's state file is corrupt"),
  SERVING_AUDIT_WRITE_FAILED: infra('the audit record of a routing change could not be written'),
  SERVING_INTERNAL: infra('an internal gateway error'),
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(ERROR_CODES, s);
}

export function exitClassOf(code: ErrorCode): ExitClass {
  return ERROR_CODES[code].exit;
}

function isListedMlflowCode(s: string): s is MlflowServerCode {
  return (MLFLOW_SERVER_CODES as readonly string[]).includes(s);
}

/** `MLFLOW_<error_code>` for a code MLflow is known to send, else the one fallback entry. */
export function mlflowServerCode(serverErrorCode: string): ErrorCode {
  // The template type makes a listed server code without its catalogue entry a type error.
  const listed: `MLFLOW_${MlflowServerCode}` | undefined = isListedMlflowCode(serverErrorCode)
    ? `MLFLOW_${serverErrorCode}`
    : undefined;
  return listed ?? 'MLFLOW_SERVER_ERROR';
}
