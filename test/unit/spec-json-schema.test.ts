import { describe, expect, it } from 'vitest';
import { promotionSpecJsonSchema } from '../../src/spec/json-schema';

interface JsonSchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  required?: string[];
  additionalProperties?: boolean;
  default?: unknown;
  pattern?: string;
}

describe('promotion spec JSON Schema', () => {
  const schema = JSON.parse(JSON.stringify(promotionSpecJsonSchema())) as JsonSchemaNode &
    Record<string, unknown>;
  const props = schema.properties ?? {};

  it('is plain JSON for draft 2020-12 with a title', () => {
    expect(schema['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema['title']).toBe('prograde promotion spec');
    expect(schema.required).toEqual(['apiVersion', 'model', 'contract', 'evaluation']);
    expect(schema.additionalProperties).toBe(false);
  });

  it('describes the gates and what is inside them', () => {
    const gates = props['gates'];
    expect(gates?.description).toBe('Offline checks: performance, fairness, latency');
    expect(Object.keys(gates?.properties ?? {})).toEqual(['performance', 'fairness', 'latency']);
    // One flat object per check (like fairness checks): the keys written say absolute or relative.
    const check = gates?.properties?.['performance']?.items;
    expect(Object.keys(check?.properties ?? {}).sort()).toEqual(
      ['confidence', 'max', 'maxDropVsChampion', 'maxRiseVsChampion', 'metric', 'min'].sort(),
    );
    expect(check?.required).toEqual(['metric']);
  });

  it('describes what a person writes: durations as text with a pattern, defaults as written', () => {
    const minDuration = props['shadow']?.properties?.['minDuration'];
    expect(minDuration).toMatchObject({
      type: 'string',
      default: '30s',
      description: 'Shadow at least this long',
    });
    const pattern = new RegExp(minDuration?.pattern ?? '^$');
    expect(['30s', '1h30m', '250ms'].every((d) => pattern.test(d))).toBe(true);
    expect(pattern.test('5x')).toBe(false);
    expect(props['contract']?.properties?.['maxModelSize']?.pattern).toBeDefined();
  });

  it('gives every top-level field a description', () => {
    const missing = Object.entries(props)
      .filter(([, node]) => !node.description)
      .map(([key]) => key);
    expect(missing).toEqual([]);
  });

  it('offers the four canary step kinds', () => {
    const steps = props['canary']?.properties?.['steps']?.items?.anyOf ?? [];
    expect(steps.map((s) => s.required?.[0])).toEqual(['setWeight', 'bake', 'pause', 'analysis']);
  });
});
