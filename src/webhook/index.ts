export { startWebhookServer, MAX_BODY_BYTES, DEFAULT_MAX_SKEW_SECONDS, type WebhookServer } from './server';
export { loadSpecRegistry, type RegisteredSpec } from './spec-registry';
export { signDelivery, verifyDelivery } from './signature';
