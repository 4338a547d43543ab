import { z } from 'zod';

/** MLflow's model-registry names and versions as the webhook carries them (strings; versions digits). */
const name = z.string().min(1).max(512);
const version = z.string().regex(/^[1-9]\d{0,17}$/, 'a registry version number');

/** `model_version_alias.created`: an alias was set (or moved) onto a version. */
const AliasCreated = z.object({
  entity: z.literal('model_version_alias'),
  action: z.literal('created'),
  timestamp: z.string().max(64),
  data: z.object({ name, alias: z.string().min(1).max(256), version }),
});

/**
 * The envelope every MLflow 3 webhook delivery has (`{entity, action, timestamp, data}`, plus
 * `workspace` when workspaces are on). Unknown keys are tolerated: MLflow may add fields.
 */
const Envelope = z.object({
  entity: z.string().min(1).max(64),
  action: z.string().min(1).max(64),
  timestamp: z.string().max(64),
  data: z.unknown(),
});

export type WebhookEvent =
  | { readonly kind: 'alias-set'; readonly model: string; readonly alias: string; readonly version: string }
  | { readonly kind: 'other'; readonly event: string };

export type ParsedEvent =
  { readonly ok: true; readonly event: WebhookEvent } | { readonly ok: false; readonly problem: string };

/** Parses a delivery's body (already authenticated). Only an alias being set can start a promotion. */
export function parseEvent(rawBody: Buffer): ParsedEvent {
  let json: unknown;
  try {
    json = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return { ok: false, problem: 'the body is not JSON' };
  }
  const envelope = Envelope.safeParse(json);
  if (!envelope.success)
    return { ok: false, problem: `not an MLflow webhook payload: ${issues(envelope.error)}` };
  const event = `${envelope.data.entity}.${envelope.data.action}`;
  if (event !== 'model_version_alias.created') return { ok: true, event: { kind: 'other', event } };
  const alias = AliasCreated.safeParse(json);
  if (!alias.success) return { ok: false, problem: `bad ${event} payload: ${issues(alias.error)}` };
  const { name: model, alias: aliasName, version: v } = alias.data.data;
  return { ok: true, event: { kind: 'alias-set', model, alias: aliasName, version: v } };
}

function issues(e: z.ZodError): string {
  return e.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
