import { createHash } from 'node:crypto';
import type { RoutingSpec } from '../routing/schema';

/**
 * Per-model traffic routing: a stable version, an optional weighted canary and an optional sampled
 * shadow. Pure: the caller supplies the random draw, so tests fix it.
 */

export { ModelName, NAME_PATTERN, RoutingSpec, VersionId } from '../routing/schema';

export type Variant = 'stable' | 'canary';
export type Role = Variant | 'shadow';

/** Buckets per model: weights resolve to 0.01 %. */
export const BUCKETS = 10_000;

/**
 * Bucket of a routing key for a model, in 0..9999. A hash (not a table) so assignments survive a
 * restart and agree across gateway replicas; the model name is mixed in so one key is not in the
 * canary of every model at once.
 */
export function bucketOf(model: string, routingKey: string): number {
  const digest = createHash('sha256').update(model).update('\0').update(routingKey).digest();
  return digest.readUInt32BE(0) % BUCKETS;
}

export interface RouteInput {
  readonly model: string;
  readonly routingKey?: string | undefined;
  readonly force?: Variant | undefined;
  /** A uniform draw in [0, 1), used when there is no routing key. */
  readonly random: number;
}

export type RouteDecision =
  | { readonly kind: 'routed'; readonly variant: Variant; readonly version: string }
  | { readonly kind: 'no-canary' };

/**
 * Picks the variant for one request. A key's bucket is compared with `weight · 100`, so raising the
 * canary weight only moves keys from stable to canary, never back: a sticky user sees at most one
 * switch during a rollout.
 */
export function route(spec: RoutingSpec, input: RouteInput): RouteDecision {
  const stable: RouteDecision = { kind: 'routed', variant: 'stable', version: spec.stable.version };
  if (input.force === 'stable') return stable;
  const canary = spec.canary;
  if (input.force === 'canary')
    return canary ? { kind: 'routed', variant: 'canary', version: canary.version } : { kind: 'no-canary' };
  if (!canary || canary.weight <= 0) return stable;
  const bucket =
    input.routingKey !== undefined
      ? bucketOf(input.model, input.routingKey)
      : Math.floor(input.random * BUCKETS);
  return bucket < Math.round(canary.weight * (BUCKETS / 100))
    ? { kind: 'routed', variant: 'canary', version: canary.version }
    : stable;
}

/** Whether this request is mirrored to the shadow, given a uniform draw in [0, 1). */
export function shouldShadow(spec: RoutingSpec, random: number): boolean {
  return spec.shadow !== undefined && random * 100 < spec.shadow.sampleRate;
}

/** Every version the spec needs loaded: routed, shadowed or retained. */
export function referencedVersions(spec: RoutingSpec): {
  readonly serving: ReadonlySet<string>;
  readonly shadow: ReadonlySet<string>;
} {
  const serving = new Set<string>([spec.stable.version, ...(spec.retain ?? [])]);
  if (spec.canary) serving.add(spec.canary.version);
  const shadow = new Set<string>(spec.shadow ? [spec.shadow.version] : []);
  return { serving, shadow };
}

/** A canonical form for comparing two specs: optional fields absent, `retain` sorted and unique. */
export function canonicalSpec(spec: RoutingSpec): RoutingSpec {
  const out: RoutingSpec = { stable: { version: spec.stable.version } };
  if (spec.canary) out.canary = { version: spec.canary.version, weight: spec.canary.weight };
  if (spec.shadow) out.shadow = { version: spec.shadow.version, sampleRate: spec.shadow.sampleRate };
  if (spec.retain && spec.retain.length > 0) out.retain = [...new Set(spec.retain)].sort();
  if (spec.scoreOutput !== undefined) out.scoreOutput = spec.scoreOutput;
  return out;
}

export function sameSpec(a: RoutingSpec, b: RoutingSpec): boolean {
  return JSON.stringify(canonicalSpec(a)) === JSON.stringify(canonicalSpec(b));
}
