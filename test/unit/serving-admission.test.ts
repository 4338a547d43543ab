import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Admission } from '../../src/serving/admission';
import { DiscardRate, HttpError, publicMessage, quoted } from '../../src/serving/http-util';
import { jsonDepthExceeds, parseJsonBody } from '../../src/serving/json-body';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/serving/limits';
import { ModelLookup } from '../../src/serving/model-lookup';
import type { ModelSource } from '../../src/serving/model-source';

function refusal(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('json body – depth limit', () => {
  const depth = (text: string, max: number): boolean => jsonDepthExceeds(Buffer.from(text), max);

  it('counts arrays and objects, and stops at the first level past the limit', () => {
    expect(depth('[[1]]', 2)).toBe(false);
    expect(depth('[[1]]', 1)).toBe(true);
    expect(depth('{"a":{"b":[1]}}', 3)).toBe(false);
    expect(depth('{"a":{"b":[1]}}', 2)).toBe(true);
    expect(depth('[1],[2],[3]', 1)).toBe(false);
  });

  it('skips strings, escaped quotes included', () => {
    expect(depth('["[[[[[[", "\\"[[[[[", "\\\\"]', 1)).toBe(false);
    expect(depth('["\\\\", [[1]]]', 2)).toBe(true);
  });

  it('refuses 10,000 levels as 400 before JSON.parse, and empty or broken bodies as 400', () => {
    expect(refusal(() => parseJsonBody(Buffer.from('['.repeat(10_000) + ']'.repeat(10_000)), 32)).code).toBe(
      'SERVING_BODY_TOO_DEEP',
    );
    expect(refusal(() => parseJsonBody(Buffer.alloc(0), 32)).status).toBe(400);
    expect(refusal(() => parseJsonBody(Buffer.from('{"a":'), 32)).code).toBe('SERVING_BODY_INVALID');
    expect(refusal(() => parseJsonBody(Buffer.from([0x22, 0xc3, 0x22]), 32)).message).toMatch(/UTF-8/);
    expect(parseJsonBody(Buffer.from('{"a":[1,2]}'), 32)).toEqual({ a: [1, 2] });
  });
});

describe('public messages – nothing internal reaches a client', () => {
  it('replaces URLs, registry URIs and file paths', () => {
    expect(
      publicMessage(
        'fetch http://10.1.2.3:5000/api/2.0/mlflow/x failed for mlflow-artifacts:/1/abc/model.onnx at /var/lib/prograde/cache/m/1/model.onnx',
      ),
    ).toBe('fetch <url> failed for <uri> at <path>');
    expect(publicMessage("no model file at '/tmp/x/y/model.onnx'")).toBe("no model file at '<path>'");
    expect(publicMessage('x'.repeat(1000)).length).toBeLessThanOrEqual(301);
  });

  it('keeps what is not a path', () => {
    expect(publicMessage("model 'credit' version 3 has no input 'x'")).toBe(
      "model 'credit' version 3 has no input 'x'",
    );
  });

  it('quotes client strings with control characters escaped and a length cap', () => {
    expect(quoted('a\r\nb')).toBe("'a\\r\\nb'");
    expect(quoted('z'.repeat(200)).length).toBeLessThan(80);
  });
});

describe('admission – budgets', () => {
  const limits = { maxInflightBytes: 1000, maxInflightRows: 10, smallBodyBytes: 100, retryAfterSec: 2 };

  it('holds big bodies against the byte budget and lets small ones through', () => {
    const admission = new Admission(limits);
    const a = admission.ticket();
    expect(a.growBody(600)).toBeUndefined();
    const b = admission.ticket();
    const refused = b.growBody(500);
    expect(refused).toMatchObject({ status: 503, code: 'SERVING_OVERLOADED', reply: { retryAfterSec: 2 } });
    expect(admission.ticket().growBody(100)).toBeUndefined();
    a.release();
    expect(b.growBody(500)).toBeUndefined();
    expect(admission.bytes).toBe(500);
    expect(admission.refused.bytes).toBe(1);
  });

  it('holds a growing body by its increments and releases everything once', () => {
    const admission = new Admission(limits);
    const t = admission.ticket();
    for (const size of [50, 200, 700, 900]) expect(t.growBody(size)).toBeUndefined();
    expect(admission.bytes).toBe(900);
    expect(t.takeRows(6)).toBeUndefined();
    expect(admission.ticket().takeRows(5)).toMatchObject({ status: 503 });
    t.release();
    t.release();
    expect([admission.bytes, admission.rows]).toEqual([0, 0]);
  });
});

describe('discard rate – refused bodies are read no faster than the rate', () => {
  it('lets a burst of a tenth of a second through, then asks for pauses that add up to the rate', () => {
    const rate = new DiscardRate(1_000_000);
    expect(rate.take(100_000)).toBe(0);
    const wait = rate.take(500_000);
    expect(wait).toBeGreaterThan(400);
    expect(wait).toBeLessThan(600);
  });
});

describe('limits – validation', () => {
  it('gives defaults, scales the byte budget with the body limit, refuses nonsense', () => {
    expect(resolveLimits(undefined)).toEqual(DEFAULT_LIMITS);
    expect(resolveLimits(undefined, 64 * 1024 * 1024).maxInflightBytes).toBe(256 * 1024 * 1024);
    expect(() => resolveLimits({ maxRowsPerRequest: 0 })).toThrow(/maxRowsPerRequest/);
    expect(() => resolveLimits({ maxJsonDepth: Number.NaN })).toThrow(/maxJsonDepth/);
    expect(() => resolveLimits({ maxInflightBytes: 10, maxBodyBytes: 100 })).toThrow(/at least maxBodyBytes/);
    expect(() => resolveLimits({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 })).toThrow(
      /headersTimeoutMs/,
    );
  });
});

describe('model lookup – cache, single flight, cap and timeout', () => {
  const silent = pino({ level: 'silent' });

  function source(hasModel: (m: string) => Promise<boolean>): ModelSource & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      description: 'test',
      load: () => Promise.reject(new Error('unused')),
      hasModel: (m) => {
        calls.push(m);
        return hasModel(m);
      },
    };
  }

  it('remembers "unknown" for cacheMs, then asks again', async () => {
    let now = 0;
    const src = source((m) => Promise.resolve(m === 'known'));
    const lookup = new ModelLookup(src, {
      timeoutMs: 100,
      maxInFlight: 2,
      cacheMs: 1000,
      maxEntries: 10,
      retryAfterSec: 1,
      logger: silent,
      now: () => now,
    });
    expect(await lookup.exists('ghost')).toBe(false);
    expect(await lookup.exists('ghost')).toBe(false);
    expect(await lookup.exists('known')).toBe(true);
    expect(src.calls).toEqual(['ghost', 'known']);
    now = 1001;
    expect(await lookup.exists('ghost')).toBe(false);
    expect(src.calls).toEqual(['ghost', 'known', 'ghost']);
  });

  it('shares one call between concurrent asks, times callers out, and caps calls in flight', async () => {
    const never = source(() => new Promise<boolean>(() => undefined));
    const lookup = new ModelLookup(never, {
      timeoutMs: 30,
      maxInFlight: 2,
      cacheMs: 1000,
      maxEntries: 10,
      retryAfterSec: 3,
      logger: silent,
    });
    const results = await Promise.allSettled([lookup.exists('a'), lookup.exists('a'), lookup.exists('b')]);
    expect(never.calls).toEqual(['a', 'b']);
    for (const r of results)
      expect(r).toMatchObject({
        status: 'rejected',
        reason: { status: 503, code: 'SERVING_REGISTRY_TIMEOUT', reply: { retryAfterSec: 3 } },
      });
    await expect(lookup.exists('c')).rejects.toMatchObject({ status: 503, code: 'SERVING_REGISTRY_BUSY' });
    expect(lookup.pending).toBe(2);
  });

  it('turns a failing registry into a 503 that does not carry its message', async () => {
    const failing = source(() => Promise.reject(new Error('connect ECONNREFUSED http://10.0.0.9:5000/api')));
    const lookup = new ModelLookup(failing, {
      timeoutMs: 1000,
      maxInFlight: 2,
      cacheMs: 1000,
      maxEntries: 10,
      retryAfterSec: 1,
      logger: silent,
    });
    const e = (await lookup.exists('m').catch((x: unknown) => x)) as HttpError;
    expect(e).toMatchObject({ status: 503, code: 'SERVING_REGISTRY_UNAVAILABLE' });
    expect(e.message).not.toMatch(/10\.0\.0\.9|http/);
  });

  it('forgets the oldest names past maxEntries', async () => {
    const src = source(() => Promise.resolve(false));
    const lookup = new ModelLookup(src, {
      timeoutMs: 100,
      maxInFlight: 2,
      cacheMs: 60_000,
      maxEntries: 2,
      retryAfterSec: 1,
      logger: silent,
    });
    for (const m of ['a', 'b', 'c', 'a']) await lookup.exists(m);
    expect(src.calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
