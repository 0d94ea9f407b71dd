import { findUnstorable, jsonDepth } from './storable-text';

function nested(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { k: value };
  return value;
}

describe('storable text and depth', () => {
  it('measures depth without recursion, however deep', () => {
    expect(jsonDepth('x')).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth([[1]])).toBe(2);
    expect(jsonDepth(nested(200_000, 1))).toBe(200_000);
    expect(jsonDepth(nested(200_000, 1), 64)).toBe(65); // stops as soon as the limit is passed
  });

  it('finds a NUL or an unpaired surrogate at any depth, in values and keys, naming the path', () => {
    const deep = findUnstorable(nested(100_000, 'a\u0000'), 'body') ?? '';
    expect(deep.slice(0, 14)).toBe('body[0].k[0].k');
    expect(deep.length).toBe(200); // spelled out only as far as a message can use
    expect(findUnstorable({ q: ['x', 'y\u0000'] }, 'query')).toBe('query.q[1]');
    expect(findUnstorable({ ok: 'fine', list: ['x', { ['bad\u0000key']: 1 }] }, '')).toBe('list[1].bad\u0000key');
    expect(findUnstorable({ a: 'x', b: '\uD800' }, '')).toBe('b');
    expect(findUnstorable({ a: '\uD83D\uDE00' }, '')).toBeUndefined(); // a paired surrogate is fine
    expect(findUnstorable({ first: 'a\u0000', second: 'b\u0000' }, '')).toBe('first');
  });
});
