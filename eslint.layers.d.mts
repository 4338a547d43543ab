// Types of eslint.layers.mjs, for test/unit/lint-layers.test.ts.
import type { Linter } from 'eslint';

export interface Layer {
  readonly name: string;
  readonly members: readonly string[];
  readonly siblings?: boolean;
}
export declare const LAYERS: readonly Layer[];
export declare const NODE_BUILTINS: readonly string[];
export declare function layerConfigs(): Linter.Config[];
