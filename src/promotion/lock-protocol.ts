import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';

/**
 * The messages between a promotion and the rollout lock of its (model, target). Pure definitions,
 * shared by both workflows, the lock activities and the tests. See rollout-lock.ts for the design.
 */

/** Workflow ids of promotions are `promote/<model>/<version>`; Temporal caps ids at 1,000 bytes. */
const WorkflowId = z.string().min(1).max(1_000);

export const LockRequestSchema = z.strictObject({
  /** Unique per acquisition (the workflow's uuid4), so a retried request activity is deduplicated. */
  requestId: z.string().min(1).max(100),
  workflowId: WorkflowId,
  runId: z.string().min(1).max(100),
  /** `queue`: wait for the turn; `try`: answer `denied` at once when someone holds or waits. */
  mode: z.enum(['queue', 'try']),
});
export type LockRequest = z.infer<typeof LockRequestSchema>;

export const LockReleaseSchema = z.strictObject({
  requestId: z.string().min(1).max(100),
  workflowId: WorkflowId,
});
export type LockRelease = z.infer<typeof LockReleaseSchema>;

export const LockAnswerSchema = z.strictObject({
  lockId: WorkflowId,
  requestId: z.string().min(1).max(100),
  answer: z.enum(['granted', 'queued', 'denied']),
  /** Who holds the lock now (for `queued` and `denied`). */
  holder: WorkflowId.optional(),
  /** Requests ahead of this one, the holder's included. */
  ahead: z.number().int().min(0).max(1_000_000).optional(),
});
export type LockAnswer = z.infer<typeof LockAnswerSchema>;

export interface LockState {
  readonly model: string;
  readonly target: string;
  readonly holder: LockRequest | undefined;
  readonly queue: readonly LockRequest[];
  /** Signals refused as malformed since this run of the lock started. */
  readonly ignored: number;
}

/** Sent by a promotion (through the requestRolloutLock activity, as signal-with-start). */
export const lockRequestSignal = defineSignal<[LockRequest]>('lockRequest');
/** Sent by a promotion when it is done with the target, or no longer wants it. */
export const lockReleaseSignal = defineSignal<[LockRelease]>('lockRelease');
export const lockStateQuery = defineQuery<LockState>('lockState');
/** Sent by the lock to a requesting promotion: granted, queued behind someone, or denied. */
export const lockAnswerSignal = defineSignal<[LockAnswer]>('rolloutLockAnswer');

export const RolloutLockInputSchema = z.object({
  model: z.string().max(1_000),
  /** The target's URL, normalised (see `normaliseTarget`). */
  target: z.string().max(4_000),
  /** Carried over continue-as-new. */
  holder: LockRequestSchema.optional(),
  queue: z.array(LockRequestSchema).max(10_000).optional(),
});
export type RolloutLockInput = z.input<typeof RolloutLockInputSchema>;

/** Trailing slashes and letter case of scheme and host do not make a different gateway. */
export function normaliseTarget(url: string): string {
  const m = /^(https?:\/\/)([^/]*)(.*)$/i.exec(url.trim());
  if (!m) return url.trim();
  return `${(m[1] ?? '').toLowerCase()}${(m[2] ?? '').toLowerCase()}${(m[3] ?? '').replace(/\/+$/, '')}`;
}

/**
 * `rollout-lock/<model>/<hash of the target>`: one lock per model and serving target. The hash keeps
 * the id short and free of URL punctuation; cyrb53 is enough, since a collision only makes two targets
 * share a queue, never lets two rollouts share a target.
 */
export function rolloutLockIdFor(model: string, targetUrl: string): string {
  return `rollout-lock/${model}/${cyrb53(normaliseTarget(targetUrl)).toString(16).padStart(14, '0')}`;
}

function cyrb53(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
