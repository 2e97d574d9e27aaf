// The usage chart's geometry: grouped bars per day, scaled to the busiest series.

export interface Series {
  key: string;
  label: string;
  values: number[];
}

export interface Bar {
  series: string;
  day: number;
  x: number;
  y: number;
  width: number;
  height: number;
  value: number;
}

/** Bars for `series` over `days` in a `width` × `height` plot, with a nice top value. */
export function layout(series: Series[], days: number, width: number, height: number): { bars: Bar[]; top: number } {
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const top = niceTop(max);
  const group = width / Math.max(days, 1);
  const bar = (group * 0.8) / Math.max(series.length, 1);
  const bars: Bar[] = [];
  series.forEach((s, i) => {
    s.values.forEach((value, day) => {
      const h = top === 0 ? 0 : (value / top) * height;
      bars.push({ series: s.key, day, value, x: day * group + group * 0.1 + i * bar, y: height - h, width: bar, height: h });
    });
  });
  return { bars, top };
}

/** The smallest of 1, 2, 5 × 10ⁿ at or above `n` (0 for 0). */
export function niceTop(n: number): number {
  if (n <= 0) return 0;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= n) ?? 10 * p;
}
