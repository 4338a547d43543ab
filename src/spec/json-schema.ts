import { z } from 'zod';
import { PromotionSpec } from './schema';
import { Duration, Size } from './units';

// Patterns mirror parseDuration/parseSize so editors flag `5x` as you type.
const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$';
const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?\\s*(B|KB|MB|GB|KiB|MiB|GiB)$';

/**
 * JSON Schema (draft 2020-12) of what a person writes in `promotion.yaml`, for editor completion
 * and hover help (e.g. the YAML language server's `# yaml-language-server: $schema=...`). Generated
 * from the zod schema, so it cannot drift from what `prograde validate` accepts; cross-field rules
 * that JSON Schema cannot express are left to `prograde validate`.
 */
export function promotionSpecJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PromotionSpec, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema === Duration.in) jsonSchema.pattern = DURATION_PATTERN;
      if (zodSchema === Size.in) jsonSchema.pattern = SIZE_PATTERN;
    },
  });
  return {
    ...schema,
    $id: 'https://prograde.dev/schema/promotion-v1.json',
    title: 'prograde promotion spec',
    description:
      'How a model version is promoted from the MLflow registry to production: gates, approval, shadow, canary, rollback.',
  };
}
