import { DefaultPayloadConverter, type Payload, type PayloadConverter } from '@temporalio/common';

/**
 * What a payload that cannot be decoded becomes: bytes labelled `json/plain` that are not JSON, or an
 * encoding nobody knows. The SDK decodes a signal's or update's arguments before any handler runs, so
 * with the default converter such a payload fails the workflow task — and every retry of it, for the
 * rest of the run (a bare `temporal workflow signal --input-meta …` jams a promotion for good). This
 * marker reaches the handler instead, whose parsing refuses it like any other bad payload.
 */
export class UndecodablePayload {
  constructor(
    readonly encoding: string,
    readonly problem: string,
  ) {}
}

/**
 * The default converter, except that decoding never throws. Encoding is unchanged, so clients keep
 * the SDK's default converter. Loaded inside the workflow sandbox too (`payloadConverterPath`).
 */
class TolerantPayloadConverter implements PayloadConverter {
  private readonly inner = new DefaultPayloadConverter();

  toPayload<T>(value: T): Payload {
    return this.inner.toPayload(value);
  }

  fromPayload<T>(payload: Payload): T {
    try {
      return this.inner.fromPayload<T>(payload);
    } catch (e) {
      const raw = payload.metadata?.encoding;
      const encoding = raw ? String.fromCharCode(...raw.slice(0, 60)) : 'none';
      return new UndecodablePayload(
        encoding,
        e instanceof Error ? e.message.slice(0, 200) : 'undecodable',
      ) as T;
    }
  }
}

export const payloadConverter: PayloadConverter = new TolerantPayloadConverter();
