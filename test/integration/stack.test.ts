import { describe, expect, it } from 'vitest';
import { mlflowAnswers } from '../../src/devstack/mlflow-server';
import { temporalAnswers } from '../../src/devstack/temporal-server';
import { stack } from '../support/stack';

describe('test stack', () => {
  it('has a real Temporal dev server answering RPCs', async () => {
    expect(await temporalAnswers(stack.temporalAddress())).toBe(true);
  });
  it('has a real MLflow server answering /health', async () => {
    expect(await mlflowAnswers(stack.mlflowUri())).toBe(true);
  });
});
