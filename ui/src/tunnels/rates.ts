// Live throughput from a tunnel's running totals: each sample is the totals at a moment; the
// rate is the difference over the time between two samples. Kept for a short window to draw.

import type { TunnelFigures } from '../backend/types';

export interface RatePoint {
  at: number;
  up: number;
  down: number;
}

/** How many points the chart keeps (one a second). */
export const WINDOW = 60;

export class RateHistory {
  private last: { at: number; figures: TunnelFigures } | null = null;
  readonly points: RatePoint[] = [];

  /** Adds the totals seen at `at` (milliseconds); returns the new rate point, if any. */
  add(at: number, figures: TunnelFigures): RatePoint | null {
    const previous = this.last;
    this.last = { at, figures };
    if (!previous || at <= previous.at) return null;
    const seconds = (at - previous.at) / 1000;
    const point = {
      at,
      up: Math.max(0, figures.bytesUp - previous.figures.bytesUp) / seconds,
      down: Math.max(0, figures.bytesDown - previous.figures.bytesDown) / seconds,
    };
    this.points.push(point);
    if (this.points.length > WINDOW) this.points.splice(0, this.points.length - WINDOW);
    return point;
  }

  /** The highest rate in the window, for the chart's scale (never zero). */
  peak(): number {
    let peak = 1;
    for (const p of this.points) peak = Math.max(peak, p.up, p.down);
    return peak;
  }
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** 1536 → "1.5 KB"; decimal units, as network rates are usually given. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}
