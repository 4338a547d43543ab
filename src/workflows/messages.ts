import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DecisionRequest, OperatorRequest, PromotionState } from '../promotion/state';

/**
 * The promotion's message surface. Approvals are Updates, so the caller learns at once whether the
 * decision was accepted (and why not); the signal forms exist for clients that can only signal
 * (webhooks, chat bots) and are validated the same way, an invalid one recorded and ignored.
 */
export const approveUpdate = defineUpdate<PromotionState, [DecisionRequest]>('approve');
export const rejectUpdate = defineUpdate<PromotionState, [DecisionRequest]>('reject');
export const approveSignal = defineSignal<[DecisionRequest]>('approveSignal');
export const rejectSignal = defineSignal<[DecisionRequest]>('rejectSignal');
export const statusQuery = defineQuery<PromotionState>('status');

/** Operator controls of a live rollout; each validated and recorded with who and why. */
export const pauseUpdate = defineUpdate<PromotionState, [OperatorRequest]>('pause');
export const resumeUpdate = defineUpdate<PromotionState, [OperatorRequest]>('resume');
export const abortUpdate = defineUpdate<PromotionState, [OperatorRequest]>('abort');
export const promoteFullUpdate = defineUpdate<PromotionState, [OperatorRequest]>('promoteFull');
