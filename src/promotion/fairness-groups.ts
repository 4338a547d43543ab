/**
 * The per-group table the fairness gate reports beside its checks, one per sensitive column: each
 * group's size and base rate, and each model's rates. It answers "is the four-fifths rule even
 * reachable on this data?" before anyone argues about a model: a perfect classifier selects exactly
 * the positives, so its demographic parity is set by the base rates alone.
 */
export interface FairnessRates {
  readonly selectionRate: number;
  readonly tpr: number;
  readonly fpr: number;
}

export interface FairnessGroupRow {
  readonly group: string;
  readonly rows: number;
  readonly positives: number;
  /** positives / rows */
  readonly baseRate: number;
  /** false for a group below `minGroupSize`: listed, not judged. */
  readonly judged: boolean;
  readonly candidate: FairnessRates;
  /** Present when the gate compared with a champion. */
  readonly champion?: FairnessRates;
}

export interface FairnessGroupTable {
  readonly column: string;
  readonly minGroupSize: number;
  readonly groups: readonly FairnessGroupRow[];
  /**
   * Demographic parity of a perfect classifier over the judged groups (min / max and max − min of the
   * base rates); absent with fewer than two judged groups or no positives at all.
   */
  readonly perfectClassifier?: {
    readonly demographicParityRatio: number;
    readonly demographicParityDifference: number;
  };
}
