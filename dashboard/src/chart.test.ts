import { describe, expect, it } from 'vitest';
import { layout, niceTop } from './chart';

describe('usage chart', () => {
  it('rounds the scale up to 1, 2 or 5 × 10ⁿ', () => {
    expect([0, 1, 3, 7, 10, 11, 240].map(niceTop)).toEqual([0, 1, 5, 10, 10, 20, 500]);
  });
  it('scales bars to the busiest series and keeps days apart', () => {
    const { bars, top } = layout(
      [
        { key: 'a', label: 'A', values: [0, 4] },
        { key: 'b', label: 'B', values: [2, 5] },
      ],
      2,
      200,
      100,
    );
    expect(top).toBe(5);
    const b1 = bars.find((b) => b.series === 'b' && b.day === 1)!;
    expect(b1.height).toBe(100);
    expect(b1.y).toBe(0);
    expect(bars.find((b) => b.series === 'a' && b.day === 0)!.height).toBe(0);
    const a1 = bars.find((b) => b.series === 'a' && b.day === 1)!;
    expect(a1.x).toBeGreaterThan(100);
    expect(a1.x + a1.width).toBeLessThanOrEqual(b1.x);
  });
});
