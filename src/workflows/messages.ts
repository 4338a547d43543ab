import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SignedStatement } from '../identity';
import type { DecisionRequest, OperatorRequest, PromotionState } from '../promotion/state';

/** A typed name (identity: unverified) or a signed statement (identity: verified). */
type Decision = DecisionRequest | SignedStatement;
type Operation = OperatorRequest | SignedStatement;

/**
 * The promotion's message surface. Approvals are Updates, so the caller learns at once whether the
 * decision was accepted (and why not); the signal forms exist for clients that can only signal
 * (webhooks, chat bots) and are validated the same way, an invalid one recorded and ignored.
 * Who decides is checked by the validators (handlers.ts, identity.ts), never taken from a field.
 */
export const approveUpdate = defineUpdate<PromotionState, [Decision]>('approve');
export const rejectUpdate = defineUpdate<PromotionState, [Decision]>('reject');
export const approveSignal = defineSignal<[Decision]>('approveSignal');
export const rejectSignal = defineSignal<[Decision]>('rejectSignal');
export const statusQuery = defineQuery<PromotionState>('status');

/** Operator controls of a live rollout; each validated and recorded with who and why. */
export const pauseUpdate = defineUpdate<PromotionState, [Operation]>('pause');
export const resumeUpdate = defineUpdate<PromotionState, [Operation]>('resume');
export const abortUpdate = defineUpdate<PromotionState, [Operation]>('abort');
export const promoteFullUpdate = defineUpdate<PromotionState, [Operation]>('promoteFull');
