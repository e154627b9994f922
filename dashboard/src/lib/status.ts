import type { Direction, Severity } from '../api/types';

export type Status = 'healthy' | 'warning' | 'critical' | 'unknown';

/** Where a metric turns warning and critical. `higherIsWorse` is true for latency and
 * error rate; false for something like a quality score. */
export interface Thresholds {
  warning: number;
  critical: number;
  higherIsWorse?: boolean;
}

/** The card status for a value: reaching a threshold counts as crossing it. */
export function statusFor(value: number | null | undefined, t: Thresholds): Status {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'unknown';
  const worse = t.higherIsWorse ?? true;
  if (worse) {
    if (value >= t.critical) return 'critical';
    if (value >= t.warning) return 'warning';
  } else {
    if (value <= t.critical) return 'critical';
    if (value <= t.warning) return 'warning';
  }
  return 'healthy';
}

export const ERROR_RATE: Thresholds = { warning: 0.01, critical: 0.05 };
export const P95_LATENCY_MS: Thresholds = { warning: 1000, critical: 5000 };

/** Status of the active-alerts card: nothing firing is healthy, high or critical is critical. */
export function alertsStatus(severities: Severity[]): Status {
  if (severities.length === 0) return 'healthy';
  return severities.some((s) => s === 'critical' || s === 'high') ? 'critical' : 'warning';
}

export interface TrendArrow {
  arrow: '↑' | '↓' | '→';
  direction: Direction;
  /** Whether the movement is good news, bad news, or neither for this metric. */
  tone: 'good' | 'bad' | 'neutral';
  label: string;
}

/** The arrow for a trend direction; rising is bad when higher is worse. */
export function trendArrow(direction: Direction | null | undefined, higherIsWorse = true): TrendArrow | null {
  if (!direction) return null;
  if (direction === 'flat') return { arrow: '→', direction, tone: 'neutral', label: 'flat' };
  const up = direction === 'increasing';
  const bad = up === higherIsWorse;
  return { arrow: up ? '↑' : '↓', direction, tone: bad ? 'bad' : 'good', label: direction };
}

/** Least-squares slope of evenly spaced values, classified like the server's trend API:
 * flat when the fitted change across the whole series is under `flatFraction` of the mean
 * (or the values are all zero). Used where the trend API has no field to ask about. */
export function localDirection(values: number[], flatFraction = 0.1): Direction | null {
  const n = values.length;
  if (n < 3) return null;
  let sx = 0;
  let sy = 0;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const y = values[i]!;
    sx += i;
    sy += y;
    sxy += i * y;
    sxx += i * i;
  }
  const denom = n * sxx - sx * sx;
  const slope = denom === 0 ? 0 : (n * sxy - sx * sy) / denom;
  const mean = sy / n;
  const change = slope * (n - 1);
  if (mean === 0 && slope === 0) return 'flat';
  if (Math.abs(change) < flatFraction * Math.abs(mean || 1)) return 'flat';
  return slope > 0 ? 'increasing' : 'decreasing';
}

const ORDER: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** Sorts most severe first, then newest first. */
export function bySeverityThenTime<T extends { severity: string; startsAt: string }>(a: T, b: T): number {
  const s = (ORDER[a.severity] ?? 9) - (ORDER[b.severity] ?? 9);
  return s !== 0 ? s : Date.parse(b.startsAt) - Date.parse(a.startsAt);
}
