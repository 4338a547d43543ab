import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Typed search attributes shown and filterable in the Temporal Web UI, e.g.
 * `ProgradeModel = "fraud-detector" AND ProgradeOutcome = "rejected"`.
 * The dev stack registers exactly these at server start (src/devstack/temporal-server.ts).
 */
export const ModelAttr = defineSearchAttributeKey('ProgradeModel', SearchAttributeType.KEYWORD);
export const VersionAttr = defineSearchAttributeKey('ProgradeVersion', SearchAttributeType.KEYWORD);
export const PhaseAttr = defineSearchAttributeKey('ProgradePhase', SearchAttributeType.KEYWORD);
export const OutcomeAttr = defineSearchAttributeKey('ProgradeOutcome', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [ModelAttr, VersionAttr, PhaseAttr, OutcomeAttr] as const;
