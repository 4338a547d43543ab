import { setTimeout as sleep } from 'node:timers/promises';
import { promotionStatus, type PromotionHandle } from '../../src/client/promotions';
import type { PromotionState } from '../../src/promotion/state';

/** Polls `probe` until it returns a value, failing with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}

/** Polls the promotion's status query until `wanted` holds; resolves to that state. */
export function untilStatus(
  handle: PromotionHandle,
  wanted: (s: PromotionState) => boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<PromotionState> {
  return eventually(
    what,
    async () => {
      const s = await promotionStatus(handle);
      return wanted(s) ? s : undefined;
    },
    timeoutMs,
    100,
  );
}
