import { describe, expect, it } from 'vitest';
import type { TunnelFigures } from '../backend/types';
import { RateHistory, WINDOW, formatBytes, formatRate } from './rates';

const figures = (bytesUp: number, bytesDown: number): TunnelFigures => ({
  bytesUp,
  bytesDown,
  openConnections: 1,
  totalConnections: 1,
  refusedConnections: 0,
  turnedAwayConnections: 0,
  liveSessions: 1,
  rttMicros: 1000,
  reconnects: 0,
});

describe('tunnel rates', () => {
  it('are the difference of totals over the time between samples', () => {
    const history = new RateHistory();
    expect(history.add(1000, figures(0, 0))).toBeNull();
    expect(history.add(3000, figures(2000, 8000))).toEqual({ at: 3000, up: 1000, down: 4000 });
    expect(history.peak()).toBe(4000);
  });

  it('ignore a sample that does not move time forward, and keep a window', () => {
    const history = new RateHistory();
    history.add(1000, figures(0, 0));
    expect(history.add(1000, figures(10, 10))).toBeNull();
    for (let i = 2; i < WINDOW + 20; i += 1) history.add(i * 1000, figures(i * 100, i * 100));
    expect(history.points.length).toBe(WINDOW);
  });

  it('format as people read them', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1536)).toBe('1.54 KB');
    expect(formatBytes(12_345_678)).toBe('12.3 MB');
    expect(formatRate(950_000)).toBe('950 KB/s');
  });
});
