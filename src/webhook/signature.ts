import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers MLflow 3 sends with every delivery (mlflow/webhooks/constants.py). */
export const HEADER = {
  signature: 'x-mlflow-signature',
  deliveryId: 'x-mlflow-delivery-id',
  timestamp: 'x-mlflow-timestamp',
} as const;

export type SignatureCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface SignedDelivery {
  readonly signature: string | undefined;
  readonly deliveryId: string | undefined;
  readonly timestamp: string | undefined;
  readonly rawBody: Buffer;
}

/** MLflow's delivery ids are uuid4; anything else is refused before it reaches the HMAC or the cache. */
const DELIVERY_ID = /^[0-9a-fA-F-]{8,64}$/;

/**
 * Checks `X-MLflow-Signature: v1,<base64(HMAC-SHA256(secret, "<id>.<timestamp>.<raw body>"))>` and that
 * the timestamp is within `maxSkewSeconds` of `nowSeconds`. The HMAC is computed over the raw bytes as
 * received (re-serialising parsed JSON would change them), and the comparison is of two fixed-length
 * digests in constant time, so neither the length nor a prefix of the expected value leaks.
 */
export function verifyDelivery(
  secret: string,
  d: SignedDelivery,
  nowSeconds: number,
  maxSkewSeconds: number,
): SignatureCheck {
  if (!d.signature || !d.deliveryId || !d.timestamp) {
    return { ok: false, reason: 'missing X-MLflow-Signature, X-MLflow-Delivery-Id or X-MLflow-Timestamp' };
  }
  if (!DELIVERY_ID.test(d.deliveryId)) return { ok: false, reason: 'malformed X-MLflow-Delivery-Id' };
  if (!/^\d{1,12}$/.test(d.timestamp)) return { ok: false, reason: 'malformed X-MLflow-Timestamp' };
  const sent = d.signature.startsWith('v1,') ? Buffer.from(d.signature.slice(3), 'base64') : undefined;
  if (!sent) return { ok: false, reason: 'unsupported signature scheme (expected v1,<base64>)' };
  const expected = createHmac('sha256', secret)
    .update(`${d.deliveryId}.${d.timestamp}.`)
    .update(d.rawBody)
    .digest();
  // Both sides hashed again: timingSafeEqual needs equal lengths, and checking lengths first would leak.
  if (!timingSafeEqual(digest(sent), digest(expected)))
    return { ok: false, reason: 'signature does not match' };
  // Checked after the HMAC, so an unauthenticated caller learns nothing about our clock.
  const skew = Math.abs(nowSeconds - Number(d.timestamp));
  if (skew > maxSkewSeconds) {
    return { ok: false, reason: `timestamp is ${skew}s away from now (at most ${maxSkewSeconds}s)` };
  }
  return { ok: true };
}

function digest(b: Buffer): Buffer {
  return createHmac('sha256', 'prograde-compare').update(b).digest();
}

/** Signs like MLflow does; for tests and for `prograde webhook` operators checking their secret. */
export function signDelivery(secret: string, deliveryId: string, timestamp: string, rawBody: string): string {
  const mac = createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.${rawBody}`).digest('base64');
  return `v1,${mac}`;
}
