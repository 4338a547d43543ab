import pino, { type Logger } from 'pino';

/**
 * One pino root logger; modules take children (`logger.child({ module: 'gateway' })`). JSON lines by
 * default so logs can be shipped as they are; PROGRADE_LOG_LEVEL sets the level.
 */
export function createLogger(name = 'prograde'): Logger {
  return pino({ name, level: process.env.PROGRADE_LOG_LEVEL ?? 'info' });
}
