import { z } from 'zod';
import { RoutingPut, RoutingSpec } from '../routing/schema';
import { canonicalSpec, sameSpec } from './routing';

export { RoutingPut };

/** What the gateway has applied for one model. */
export const AppliedRouting = z.strictObject({
  generation: z.number().int().min(1),
  spec: RoutingSpec,
  appliedAt: z.string(),
  actor: z.string().optional(),
  /** The caller's own label (`x-prograde-actor`, e.g. the workflow run): never an identity. */
  note: z.string().optional(),
});
export type AppliedRouting = z.infer<typeof AppliedRouting>;

/** Who made a routing change: the authenticated token's name, and the caller's own label. */
export type ChangeAuthor = Pick<AppliedRouting, 'actor' | 'note'>;

export type PutDecision =
  | { readonly kind: 'apply' }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'conflict'; readonly reason: string };

export function specOf(put: RoutingPut): RoutingSpec {
  const { generation: _generation, ...spec } = put;
  return canonicalSpec(spec);
}

/**
 * Desired-state semantics: a repeat of the applied state is a no-op (so a retried activity is safe),
 * a higher generation wins, and anything else is a stale or contradictory writer.
 */
export function decidePut(current: AppliedRouting | undefined, put: RoutingPut): PutDecision {
  if (!current || put.generation > current.generation) return { kind: 'apply' };
  if (put.generation < current.generation) {
    return {
      kind: 'conflict',
      reason: `generation ${put.generation} is older than the applied generation ${current.generation}`,
    };
  }
  if (sameSpec(current.spec, specOf(put))) return { kind: 'unchanged' };
  return {
    kind: 'conflict',
    reason: `generation ${put.generation} is already applied with a different routing; use a higher generation`,
  };
}
