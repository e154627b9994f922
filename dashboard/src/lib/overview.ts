import type { AggPoint } from '../api/types';
import { fillBuckets } from './series';

export interface Rates {
  /** Events per minute over the last `windowMin` one-minute buckets. */
  perMinute: number;
  /** Errors over all events in the same window; null when there were no events. */
  errorRatio: number | null;
  /** Per-minute totals, oldest first, for the trend. */
  totals: number[];
  /** Per-minute error ratios (0 where a minute had no events), oldest first. */
  errorRatios: number[];
}

/**
 * Event rate and error rate from a `aggregation=1m&groupBy=type` answer. The current
 * minute is still filling, so the rate is taken over the `windowMin` buckets before it
 * plus the fraction of the current one that has elapsed.
 */
export function computeRates(points: AggPoint[], now: number, steps = 15, windowMin = 5): Rates {
  const all = fillBuckets(points, 60_000, steps, now);
  const errors = fillBuckets(
    points.filter((p) => p.group?.type === 'error'),
    60_000,
    steps,
    now,
  );
  const elapsed = (now % 60_000) / 60_000;
  const span = windowMin - 1 + Math.max(elapsed, 1 / 60);
  const from = steps - windowMin;
  let total = 0;
  let errs = 0;
  for (let i = from; i < steps; i++) {
    total += all[i] ?? 0;
    errs += errors[i] ?? 0;
  }
  return {
    perMinute: total / span,
    errorRatio: total > 0 ? errs / total : null,
    totals: all,
    errorRatios: all.map((t, i) => (t > 0 ? (errors[i] ?? 0) / t : 0)),
  };
}

/** The p95 of the newest bucket that has one. */
export function latestP95(points: AggPoint[]): number | null {
  for (let i = points.length - 1; i >= 0; i--) {
    const v = points[i]!.p95;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

/** Distinct non-empty session ids in a `groupBy=sessionId` answer. */
export function distinctSessions(points: AggPoint[]): string[] {
  const s = new Set<string>();
  for (const p of points) {
    const id = p.group?.sessionId;
    if (id) s.add(id);
  }
  return [...s].sort();
}
