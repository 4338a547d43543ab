import type { ChaosOptions } from './run';
import type { FaultSettings } from './faults';

/** Fault lengths of the issue: MLflow gone 30 s and frozen 30 s; a gateway frozen past a 1 s analysis interval. */
const FULL_FAULTS: FaultSettings = {
  mlflowOutageMs: 30_000,
  mlflowFreezeMs: 30_000,
  gatewayFreezeMs: 5_000,
  diskFullMs: 20_000,
  workerDownMs: 1_000,
  gatewayDownMs: 1_500,
  temporalDownMs: 3_000,
  serviceCoolDownMs: 30_000,
};

type Sized = Omit<ChaosOptions, 'log' | 'seed'>;

/**
 * `npm run chaos`: 55 faults (at least 50 must strike, or the run is not green) over 24 promotions in
 * flight. The window closes once they are in, at most after 14 minutes (at a load average near 30 the
 * scheduler struck about 4 a minute); the drain waits at most 6.
 */
export const FULL: Sized = {
  name: 'full',
  concurrency: 24,
  faults: 55,
  minFaults: 50,
  faultWindowMs: 14 * 60_000,
  drainMs: 6 * 60_000,
  workers: 2,
  gateways: 2,
  trafficRps: 12,
  tmpfsMiB: 256,
  faultSettings: FULL_FAULTS,
  eachKindAtLeast: 3,
};

/**
 * The short run inside `npm test`: about ten faults, every kind once where its moment comes up. The
 * MLflow faults are 15 s instead of 30 s to fit the time; everything else is as in the full run.
 */
export const SHORT: Sized = {
  name: 'short',
  concurrency: 8,
  faults: 10,
  minFaults: 5,
  faultWindowMs: 150_000,
  drainMs: 6 * 60_000,
  workers: 2,
  gateways: 1,
  trafficRps: 12,
  tmpfsMiB: 64,
  faultSettings: {
    ...FULL_FAULTS,
    mlflowOutageMs: 15_000,
    mlflowFreezeMs: 15_000,
    diskFullMs: 10_000,
    serviceCoolDownMs: 10_000,
  },
  eachKindAtLeast: 1,
};
