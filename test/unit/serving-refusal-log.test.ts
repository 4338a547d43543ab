import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { RefusalLog, type RefusalFields } from '../../src/serving/refusal-log';

const logs: RefusalLog[] = [];
afterEach(() => {
  for (const l of logs.splice(0)) l.close();
});

function setup(options: ConstructorParameters<typeof RefusalLog>[1]) {
  const lines: Record<string, unknown>[] = [];
  let now = 0;
  const logger = pino(
    { level: 'info' },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  const log = new RefusalLog(logger, { summaryEveryMs: 3_600_000, ...options }, () => now);
  logs.push(log);
  return { lines, log, advance: (ms: number) => (now += ms) };
}

const refusal = (remote: string): RefusalFields => ({
  remote,
  method: 'GET',
  path: '/admin/models',
  status: 401,
  code: 'SERVING_UNAUTHORIZED',
  requestId: 'r1',
});

describe('refusal log', () => {
  it('logs each address up to its burst, then counts what it holds back and summarises it', () => {
    const { lines, log } = setup({
      perAddressBurst: 2,
      perAddressPerSec: 1,
      globalBurst: 100,
      globalPerSec: 100,
    });
    for (let i = 0; i < 10; i++) log.note(refusal('10.0.0.1'));
    for (let i = 0; i < 3; i++) log.note(refusal('10.0.0.2'));
    expect(lines.filter((l) => l.msg === 'refused 401 SERVING_UNAUTHORIZED').map((l) => l.remote)).toEqual([
      '10.0.0.1',
      '10.0.0.1',
      '10.0.0.2',
      '10.0.0.2',
    ]);
    log.flush();
    expect(lines.at(-1)).toMatchObject({
      level: 40,
      msg: '9 more refused requests suppressed',
      suppressed: 9,
      addresses: 2,
      top: [
        { remote: '10.0.0.1', count: 8 },
        { remote: '10.0.0.2', count: 1 },
      ],
    });
    const count = lines.length;
    log.flush();
    expect(lines).toHaveLength(count);
  });

  it('refills each bucket with time', () => {
    const { lines, log, advance } = setup({
      perAddressBurst: 1,
      perAddressPerSec: 1,
      globalBurst: 100,
      globalPerSec: 100,
    });
    log.note(refusal('a'));
    log.note(refusal('a'));
    advance(1_000);
    log.note(refusal('a'));
    expect(lines.filter((l) => String(l.msg).startsWith('refused'))).toHaveLength(2);
  });

  it('caps all addresses together, so many addresses cannot flood the log', () => {
    const { lines, log } = setup({
      perAddressBurst: 5,
      perAddressPerSec: 1,
      globalBurst: 10,
      globalPerSec: 0.001,
    });
    for (let i = 0; i < 1_000; i++) log.note(refusal(`10.0.${Math.floor(i / 250)}.${i % 250}`));
    expect(lines.filter((l) => String(l.msg).startsWith('refused'))).toHaveLength(10);
    log.flush();
    expect(lines.at(-1)).toMatchObject({ suppressed: 990, addresses: 990 });
  });

  it('keeps its address table bounded', () => {
    const { log } = setup({ maxAddresses: 100, perAddressBurst: 1, globalBurst: 1_000_000, globalPerSec: 1 });
    for (let i = 0; i < 10_000; i++) log.note(refusal(`addr-${i}`));
    const inner = log as unknown as { perAddress: Map<string, unknown>; suppressed: Map<string, number> };
    expect(inner.perAddress.size).toBeLessThanOrEqual(100);
    expect(inner.suppressed.size).toBeLessThanOrEqual(100);
  });
});
