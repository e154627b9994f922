import type { AggPoint, Aggregation, AnomalySeries } from '../api/types';

export type Stat = 'count' | 'avg' | 'p50' | 'p95' | 'p99' | 'max' | 'min' | 'sum';

export interface Series {
  /** Stable key of the group (its dimension values, joined). */
  key: string;
  label: string;
  group: Record<string, string | null>;
  values: (number | null)[];
}

/** Columns ready for uPlot: x in seconds (uPlot's default unit), one y array per group. */
export interface ChartData {
  x: number[];
  series: Series[];
}

const NONE = '(none)';

/** "tool:Bash · proj-1"; "all" when ungrouped. */
export function groupLabel(group: Record<string, string | null> | undefined, groupBy: string[] = []): string {
  if (!group || Object.keys(group).length === 0) return 'all';
  const keys = groupBy.length > 0 ? groupBy : Object.keys(group).sort();
  return keys.map((k) => group[k] ?? NONE).join(' · ');
}

function groupKey(group: Record<string, string | null> | undefined, groupBy: string[]): string {
  if (!group) return '';
  const keys = groupBy.length > 0 ? groupBy : Object.keys(group).sort();
  return JSON.stringify(keys.map((k) => group[k] ?? null));
}

/**
 * Turns a query answer into aligned columns: the union of bucket timestamps in ascending
 * order, and per group a value per timestamp (`null` where the group had no bucket, so
 * uPlot leaves a gap rather than drawing a line through a missing bucket). Groups are
 * ordered by their total count, busiest first, so the legend leads with what matters.
 */
export function buildSeries(points: AggPoint[], stat: Stat, groupBy: string[] = []): ChartData {
  const times = new Set<number>();
  const byGroup = new Map<string, { group: Record<string, string | null>; at: Map<number, number | null>; total: number }>();
  for (const p of points) {
    const t = Date.parse(p.timestamp);
    if (Number.isNaN(t)) continue;
    const sec = t / 1000;
    times.add(sec);
    const key = groupKey(p.group, groupBy);
    let g = byGroup.get(key);
    if (!g) {
      g = { group: p.group ?? {}, at: new Map(), total: 0 };
      byGroup.set(key, g);
    }
    const v = p[stat];
    g.at.set(sec, typeof v === 'number' && Number.isFinite(v) ? v : null);
    g.total += p.count;
  }
  const x = [...times].sort((a, b) => a - b);
  const series = [...byGroup.entries()]
    .sort((a, b) => b[1].total - a[1].total || a[0].localeCompare(b[0]))
    .map(([key, g]) => ({
      key,
      label: groupLabel(g.group, groupBy),
      group: g.group,
      values: x.map((t) => (g.at.has(t) ? g.at.get(t)! : null)),
    }));
  return { x, series };
}

/** Keeps the `max` busiest series and folds nothing: the rest are dropped from the chart
 * (the legend says how many), because hundreds of lines help no one. */
export function limitSeries(data: ChartData, max: number): { data: ChartData; hidden: number } {
  if (data.series.length <= max) return { data, hidden: 0 };
  return { data: { x: data.x, series: data.series.slice(0, max) }, hidden: data.series.length - max };
}

export interface Marker {
  /** Seconds. */
  x: number;
  y: number;
  severity: string;
  kind: string;
  /** Index into ChartData.series of the line the anomaly belongs to, or -1. */
  seriesIndex: number;
  label: string;
}

/** Anomaly markers for the chart: each anomaly at its time and value, attached to the
 * series whose group has the same operation (when the chart is grouped by operation). */
export function anomalyMarkers(answer: AnomalySeries[], data: ChartData, groupBy: string[]): Marker[] {
  const byOperation = new Map<string, number>();
  if (groupBy.length === 1 && groupBy[0] === 'operation') {
    data.series.forEach((s, i) => byOperation.set(s.group.operation ?? NONE, i));
  }
  const markers: Marker[] = [];
  for (const s of answer) {
    for (const a of s.anomalies) {
      const t = Date.parse(a.timestamp);
      if (Number.isNaN(t) || !Number.isFinite(a.value)) continue;
      markers.push({
        x: t / 1000,
        y: a.value,
        severity: a.severity,
        kind: a.kind,
        seriesIndex: byOperation.get(s.operation ?? NONE) ?? -1,
        label: `${s.operation ?? 'all'}: ${a.kind} ${a.value.toFixed(1)} (expected ${a.expected.toFixed(1)}, score ${a.score.toFixed(1)})`,
      });
    }
  }
  return markers;
}

/** Counts per bucket for `steps` buckets ending at the bucket holding `now`, filling the
 * buckets the server omitted (empty buckets are left out of answers) with zeros. */
export function fillBuckets(points: AggPoint[], stepMs: number, steps: number, now: number): number[] {
  const last = Math.floor(now / stepMs) * stepMs;
  const first = last - (steps - 1) * stepMs;
  const out = new Array<number>(steps).fill(0);
  for (const p of points) {
    const t = Date.parse(p.timestamp);
    const i = Math.round((t - first) / stepMs);
    if (i >= 0 && i < steps) out[i] = (out[i] ?? 0) + p.count;
  }
  return out;
}

export const STEP_MS: Record<Exclude<Aggregation, 'raw'>, number> = {
  '1m': 60_000,
  '5m': 300_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
};

export type RangePreset = '15m' | '1h' | '6h' | '24h' | '7d' | '30d';

export const RANGE_MS: Record<RangePreset, number> = {
  '15m': 15 * 60_000,
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};

/** The aggregation that gives a readable number of buckets for a range. */
export function suggestAggregation(rangeMs: number): Exclude<Aggregation, 'raw'> {
  if (rangeMs <= 6 * 3_600_000) return '1m';
  if (rangeMs <= 2 * 86_400_000) return '5m';
  if (rangeMs <= 31 * 86_400_000) return '1h';
  return '1d';
}

/** [start, end) as RFC 3339 for a range ending now. The end is a minute ahead (to the
 * second) so events posted this instant, or by an agent whose clock runs a little ahead,
 * are inside it. */
export function rangeEndingNow(rangeMs: number, now: number = Date.now()): { start: string; end: string } {
  const end = Math.ceil((now + 60_000) / 1000) * 1000;
  return { start: new Date(end - rangeMs).toISOString(), end: new Date(end).toISOString() };
}
