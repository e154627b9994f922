import { describe, expect, it } from 'vitest';
import type { AggPoint } from '../api/types';
import { anomalyMarkers, buildSeries, fillBuckets, groupLabel, limitSeries, rangeEndingNow, suggestAggregation } from './series';

function pt(ts: string, count: number, p95: number | null, group?: Record<string, string | null>): AggPoint {
  return { timestamp: ts, count, sum: null, avg: p95, min: null, max: null, p50: null, p95, p99: null, group };
}

describe('buildSeries', () => {
  const answer = [
    pt('2026-11-28T12:00:00Z', 5, 100, { operation: 'tool:Bash' }),
    pt('2026-11-28T12:00:00Z', 20, 40, { operation: 'tool:Read' }),
    pt('2026-11-28T12:01:00Z', 3, 120, { operation: 'tool:Bash' }),
    pt('2026-11-28T12:02:00Z', 7, 35, { operation: 'tool:Read' }),
    pt('2026-11-28T12:02:00Z', 1, 50, { operation: null }),
  ];

  it('aligns groups on the union of timestamps with gaps as null', () => {
    const d = buildSeries(answer, 'p95', ['operation']);
    const t0 = Date.parse('2026-11-28T12:00:00Z') / 1000;
    expect(d.x).toEqual([t0, t0 + 60, t0 + 120]);
    expect(d.series.map((s) => s.label)).toEqual(['tool:Read', 'tool:Bash', '(none)']);
    expect(d.series[0]!.values).toEqual([40, null, 35]);
    expect(d.series[1]!.values).toEqual([100, 120, null]);
    expect(d.series[2]!.values).toEqual([null, null, 50]);
  });

  it('reads the chosen statistic and treats a missing one as a gap', () => {
    const d = buildSeries(answer, 'count', ['operation']);
    expect(d.series[0]!.values).toEqual([20, null, 7]);
    const p99 = buildSeries(answer, 'p99', ['operation']);
    expect(p99.series[0]!.values).toEqual([null, null, null]);
  });

  it('makes one "all" series for an ungrouped answer and sorts unsorted input', () => {
    const d = buildSeries([pt('2026-11-28T12:05:00Z', 1, 2), pt('2026-11-28T12:00:00Z', 1, 1)], 'p95');
    expect(d.series).toHaveLength(1);
    expect(d.series[0]!.label).toBe('all');
    expect(d.series[0]!.values).toEqual([1, 2]);
  });

  it('labels multi-dimension groups in groupBy order', () => {
    expect(groupLabel({ projectId: 'p1', operation: 'op' }, ['operation', 'projectId'])).toBe('op · p1');
    expect(groupLabel({}, [])).toBe('all');
  });

  it('keeps the busiest series when there are too many', () => {
    const d = buildSeries(answer, 'p95', ['operation']);
    const { data, hidden } = limitSeries(d, 2);
    expect(hidden).toBe(1);
    expect(data.series.map((s) => s.label)).toEqual(['tool:Read', 'tool:Bash']);
  });
});

describe('anomalyMarkers', () => {
  it('attaches anomalies to the series of their operation', () => {
    const d = buildSeries(
      [pt('2026-11-28T12:00:00Z', 5, 100, { operation: 'a' }), pt('2026-11-28T12:00:00Z', 9, 100, { operation: 'b' })],
      'p95',
      ['operation'],
    );
    const m = anomalyMarkers(
      [
        {
          agentType: null,
          operation: 'a',
          points: 100,
          anomalies: [
            { timestamp: '2026-11-28T12:00:30Z', value: 900, score: 4.2, expected: 100, severity: 'high', kind: 'spike', method: 'zscore' },
          ],
        },
      ],
      d,
      ['operation'],
    );
    expect(m).toHaveLength(1);
    expect(m[0]).toMatchObject({ x: Date.parse('2026-11-28T12:00:30Z') / 1000, y: 900, seriesIndex: 1, kind: 'spike' });
    expect(anomalyMarkers([], d, ['operation'])).toEqual([]);
  });
});

describe('fillBuckets', () => {
  it('fills omitted buckets with zeros and sums groups', () => {
    const now = Date.parse('2026-11-28T12:04:30Z');
    const out = fillBuckets(
      [
        pt('2026-11-28T12:00:00Z', 2, null, { type: 'performance' }),
        pt('2026-11-28T12:00:00Z', 1, null, { type: 'error' }),
        pt('2026-11-28T12:03:00Z', 4, null),
        pt('2026-11-28T11:00:00Z', 99, null),
      ],
      60_000,
      5,
      now,
    );
    expect(out).toEqual([3, 0, 0, 4, 0]);
  });
});

describe('ranges', () => {
  it('suggests an aggregation per range', () => {
    expect(suggestAggregation(3_600_000)).toBe('1m');
    expect(suggestAggregation(24 * 3_600_000)).toBe('5m');
    expect(suggestAggregation(7 * 86_400_000)).toBe('1h');
    expect(suggestAggregation(90 * 86_400_000)).toBe('1d');
  });
  it('ends a minute ahead of now on a whole second', () => {
    const r = rangeEndingNow(3_600_000, Date.parse('2026-11-28T12:00:00.400Z'));
    expect(r.end).toBe('2026-11-28T12:01:01.000Z');
    expect(r.start).toBe('2026-11-28T11:01:01.000Z');
  });
});
