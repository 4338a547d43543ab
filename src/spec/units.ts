import { z } from 'zod';
import { quote } from './spec-error';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

/** Parses `250ms`, `30s`, `5m`, `1h30m`, `24h`, `2d` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g))
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN);
  return Number.isFinite(total) ? total : undefined;
}

/** Parses `200MB`, `1.5GiB`, `512KB`, `100B` into bytes; undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (SIZE_UNITS[m[2] ?? ''] ?? NaN));
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A duration written as text (`30s`) in the spec, parsed to milliseconds. */
export const Duration = z
  .string()
  .transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${quote(s)} is not a duration; write e.g. 250ms, 30s, 5m, 1h30m, 2d`,
      });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'A duration such as 250ms, 30s, 5m, 1h30m or 2d', examples: ['30s', '5m'] });

/** A size written as text (`200MB`) in the spec, parsed to bytes. */
export const Size = z
  .string()
  .transform((s, ctx) => {
    const bytes = parseSize(s);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `${quote(s)} is not a size; write e.g. 512KB, 200MB, 1.5GiB` });
      return z.NEVER;
    }
    return bytes;
  })
  .meta({ description: 'A size such as 512KB, 200MB or 1.5GiB', examples: ['200MB'] });

/** A percentage of traffic, 0–100. */
export const Percent = z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100');
