/**
 * A tabular evaluation set in memory. Features are row-major float32 because that is what the
 * models take; labels are numbers (0/1 for binary classification); each sensitive column keeps
 * its raw string values so groups are named as the data names them.
 */
export interface Dataset {
  readonly featureNames: readonly string[];
  readonly rows: number;
  /** rows × featureNames.length, row-major. */
  readonly features: Float32Array;
  readonly labelName: string;
  readonly labels: Float64Array;
  readonly sensitive: Readonly<Record<string, readonly string[]>>;
}
