import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/cli/run';
import { parseFeatureList } from '../../src/traffic/features';

function refusal(text: string): { message: string; exit: number } {
  try {
    parseFeatureList(text);
  } catch (e) {
    return { message: (e as Error).message, exit: exitCodeFor(e) };
  }
  throw new Error(`'${text}' was accepted`);
}

describe('--features', () => {
  it('reads plain names as before', () => {
    expect(parseFeatureList('age, income ,score')).toEqual(['age', 'income', 'score']);
    expect(parseFeatureList('a,b,')).toEqual(['a', 'b']);
  });

  it("expands f0..f29 as the spec's { prefix: f, from: 0, to: 29 } does", () => {
    const names = parseFeatureList('f0..f29');
    expect(names).toHaveLength(30);
    expect(names[0]).toBe('f0');
    expect(names[29]).toBe('f29');
    expect(parseFeatureList('x7..x7')).toEqual(['x7']);
  });

  it('mixes ranges and names in order, and takes prefixes that end in digits or are empty', () => {
    expect(parseFeatureList('age,f0..f2,income')).toEqual(['age', 'f0', 'f1', 'f2', 'income']);
    expect(parseFeatureList('x1_8..x1_10')).toEqual(['x1_8', 'x1_9', 'x1_10']);
    expect(parseFeatureList('0..2')).toEqual(['0', '1', '2']);
    expect(parseFeatureList(' f 0 .. f 1 ')).toEqual(['f 0', 'f 1']);
  });

  it.each([
    ['f0..g3', /different prefixes \('f' and 'g'\)/],
    ['f3..f1', /runs backwards: 1 is below 3/],
    ['f0..', /both ends need a trailing index/],
    ['..f3', /both ends need a trailing index/],
    ['f..f3', /both ends need a trailing index/],
    ['f0..f1..f2', /is not a range/],
    ['f00..f11', /zero-padded index 00/],
    ['f0..f100000', /spans 100001 columns; a range may span at most 100000/],
    ['f0..f9999999999999999', /too large/],
    ['f0..f3,f2', /names column 'f2' twice/],
    ['a,a', /names column 'a' twice/],
    [' , ', /names no column/],
    ['', /names no column/],
  ])('refuses %j with exit 2 and says why', (text, why) => {
    const r = refusal(text);
    expect(r.exit).toBe(2);
    expect(r.message).toMatch(/^--features /);
    expect(r.message).toMatch(why);
  });

  it('bounds the total across ranges', () => {
    expect(refusal('a0..a59999,b0..b59999').message).toMatch(/more than 100000 columns/);
  });
});
