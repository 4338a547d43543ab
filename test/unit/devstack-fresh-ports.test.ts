import { describe, expect, it } from 'vitest';
import { ProgradeError } from '../../src/errors';
import { startWithFreshPorts } from '../../src/devstack/service';

const notReady = (log: string) =>
  new ProgradeError(
    'SERVICE_NOT_READY',
    `Temporal dev server exited during start-up; log x:\n${log}`,
    'retryable',
  );

describe('startWithFreshPorts', () => {
  it('starts again when a port was taken between choosing and binding it', async () => {
    let calls = 0;
    const started = await startWithFreshPorts(() => {
      calls++;
      if (calls < 3) throw notReady('listen tcp 127.0.0.1:36893: bind: address already in use');
      return Promise.resolve('up');
    });
    expect(started).toBe('up');
    expect(calls).toBe(3);
  });

  it('gives up after the last attempt, with the last error', async () => {
    let calls = 0;
    await expect(
      startWithFreshPorts(() => {
        calls++;
        throw notReady('OSError: [Errno 98] Address already in use');
      }, 2),
    ).rejects.toThrow(/Errno 98/);
    expect(calls).toBe(2);
  });

  it('does not retry any other failure', async () => {
    let calls = 0;
    await expect(
      startWithFreshPorts(() => {
        calls++;
        throw notReady('panic: database is locked');
      }),
    ).rejects.toThrow(/database is locked/);
    expect(calls).toBe(1);
  });
});
