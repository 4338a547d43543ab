import type { ErrorCode } from '../../error-codes';
import type { GivenRequest } from '../request-tensors';

/** A request body handed to the parse thread; `bytes` is transferred. */
export interface ParseTask {
  readonly id: number;
  readonly kind: 'v2' | 'mlflow';
  readonly bytes: ArrayBuffer;
  readonly maxDepth: number;
  readonly maxRows: number;
}

export type ParseReply =
  | { readonly id: number; readonly ok: true; readonly request: GivenRequest }
  | {
      readonly id: number;
      readonly ok: false;
      readonly status: number;
      readonly code: ErrorCode;
      readonly message: string;
      readonly details: Readonly<Record<string, unknown>>;
    };
