import { z } from 'zod';
import { InvalidInputError, ProgradeError } from '../errors';
import { checkTarget, gatewaySender } from './target';

/** Datatypes v2 traffic can fill from feature rows (they are floating-point numbers). */
export const TRAFFIC_V2_DATATYPES = ['FP32', 'FP64'] as const;
export type TrafficV2Datatype = (typeof TRAFFIC_V2_DATATYPES)[number];

/** The one input tensor v2 traffic fills, as the gateway describes the model it serves. */
export interface V2Input {
  readonly name: string;
  readonly datatype: TrafficV2Datatype;
  /** Features per row, when the model fixes it (undefined for a free dimension). */
  readonly width: number | undefined;
}

const MetadataTensor = z
  .object({ name: z.string().min(1), datatype: z.string(), shape: z.array(z.number().int()) })
  .loose();
const ModelMetadata = z.object({ inputs: z.array(MetadataTensor) }).loose();
const ErrorBody = z.object({ error: z.string() }).loose();

export interface V2InputLookup {
  readonly gatewayUrl: string;
  readonly model: string;
  readonly allowRemote?: boolean;
  readonly timeoutMs?: number;
  /** Where PROGRADE_GATEWAY_CA_BUNDLE is read for an https gateway; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Asks the gateway for the model's Open Inference Protocol metadata (`GET /v2/models/{model}`, which
 * describes the stable version) and returns the input that v2 traffic fills. A model whose input is
 * not named `features` would otherwise get HTTP 400 on every request.
 *
 * Refusals before anything is sent: the model is not served there, it has several inputs, an input
 * of a type or rank the feature rows cannot fill (all invalid input); the gateway did not answer or
 * answered something else (TRAFFIC_METADATA_UNAVAILABLE).
 */
export async function v2InputOf(lookup: V2InputLookup): Promise<V2Input> {
  const base = checkTarget(lookup.gatewayUrl, lookup.allowRemote ?? false);
  const gateway = gatewaySender(base, lookup.env);
  const url = `${base.href.replace(/\/+$/, '')}/v2/models/${encodeURIComponent(lookup.model)}`;
  const unavailable = (why: string, cause?: unknown): ProgradeError =>
    new ProgradeError(
      'TRAFFIC_METADATA_UNAVAILABLE',
      `could not read the inputs of model '${lookup.model}' from GET ${url}: ${why}`,
      'retryable',
      { url, model: lookup.model },
      cause === undefined ? undefined : { cause },
    );
  let status: number;
  let text: string;
  try {
    const res = await gateway.fetch(url, { signal: AbortSignal.timeout(lookup.timeoutMs ?? 10_000) });
    status = res.status;
    text = await res.text();
  } catch (e) {
    throw unavailable(gateway.describe(e), e);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status === 404) {
    const said = ErrorBody.safeParse(body);
    throw new InvalidInputError(
      `the gateway at ${base.origin} serves no model '${lookup.model}'${said.success ? ` (${said.data.error})` : ''}`,
      { model: lookup.model, gatewayUrl: base.origin },
    );
  }
  if (status < 200 || status >= 300) {
    const said = ErrorBody.safeParse(body);
    throw unavailable(`HTTP ${status}${said.success ? `: ${said.data.error}` : ''}`);
  }
  const meta = ModelMetadata.safeParse(body);
  if (!meta.success) throw unavailable('the answer is not Open Inference Protocol model metadata');
  return chooseInput(lookup.model, meta.data.inputs);
}

function chooseInput(model: string, inputs: readonly z.infer<typeof MetadataTensor>[]): V2Input {
  const refuse = (why: string): never => {
    throw new InvalidInputError(`model '${model}' ${why}`, {
      model,
      inputs: inputs.slice(0, 20).map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })),
    });
  };
  const only = inputs[0];
  if (inputs.length !== 1 || only === undefined)
    return refuse(
      `has ${inputs.length} inputs (${inputs
        .slice(0, 10)
        .map((i) => i.name)
        .join(', ')}); traffic fills exactly one input tensor with the feature rows`,
    );
  const datatype = TRAFFIC_V2_DATATYPES.find((d) => d === only.datatype);
  if (datatype === undefined)
    return refuse(
      `input '${only.name}' is ${only.datatype}; traffic sends floating-point features (${TRAFFIC_V2_DATATYPES.join(' or ')})`,
    );
  if (only.shape.length !== 2)
    return refuse(
      `input '${only.name}' has shape [${only.shape.join(', ')}]; traffic sends rows × features, [-1, n]`,
    );
  const width = only.shape[1];
  return { name: only.name, datatype, width: width !== undefined && width > 0 ? width : undefined };
}
