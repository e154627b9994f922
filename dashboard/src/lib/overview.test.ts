import { describe, expect, it } from 'vitest';
import type { AggPoint } from '../api/types';
import { computeRates, distinctSessions, latestP95 } from './overview';

const p = (ts: string, count: number, group: Record<string, string | null> = {}, p95: number | null = null): AggPoint => ({
  timestamp: ts,
  count,
  sum: null,
  avg: null,
  min: null,
  max: null,
  p50: null,
  p95,
  p99: null,
  group,
});

describe('computeRates', () => {
  it('rates events over the last five minutes, counting the elapsed part of the current one', () => {
    const now = Date.parse('2026-11-28T12:14:30Z'); // half-way through the 12:14 bucket
    const r = computeRates(
      [
        p('2026-11-28T12:00:00Z', 100, { type: 'performance' }), // outside the 5-minute window
        p('2026-11-28T12:10:00Z', 40, { type: 'performance' }),
        p('2026-11-28T12:10:00Z', 2, { type: 'error' }),
        p('2026-11-28T12:14:00Z', 3, { type: 'performance' }),
      ],
      now,
    );
    expect(r.perMinute).toBeCloseTo(45 / 4.5);
    expect(r.errorRatio).toBeCloseTo(2 / 45);
    expect(r.totals).toHaveLength(15);
    expect(r.totals[0]).toBe(100);
    expect(r.totals[10]).toBe(42);
    expect(r.errorRatios[10]).toBeCloseTo(2 / 42);
    expect(r.errorRatios[14]).toBe(0);
  });

  it('has no error ratio without events', () => {
    const r = computeRates([], Date.parse('2026-11-28T12:00:00Z'));
    expect(r.perMinute).toBe(0);
    expect(r.errorRatio).toBeNull();
  });
});

describe('latestP95 and distinctSessions', () => {
  it('takes the newest bucket that has a p95', () => {
    expect(latestP95([p('2026-11-28T12:00:00Z', 1, {}, 10), p('2026-11-28T12:05:00Z', 1, {}, 20), p('2026-11-28T12:10:00Z', 0, {}, null)])).toBe(20);
    expect(latestP95([])).toBeNull();
  });
  it('counts each session once, ignoring events without one', () => {
    expect(
      distinctSessions([p('t', 1, { sessionId: 'b' }), p('t', 1, { sessionId: 'a' }), p('u', 1, { sessionId: 'b' }), p('t', 1, { sessionId: null })]),
    ).toEqual(['a', 'b']);
  });
});
