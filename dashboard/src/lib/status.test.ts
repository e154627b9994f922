import { describe, expect, it } from 'vitest';
import { alertsStatus, bySeverityThenTime, ERROR_RATE, localDirection, P95_LATENCY_MS, statusFor, trendArrow } from './status';

describe('statusFor', () => {
  it('turns warning and critical at the thresholds when higher is worse', () => {
    expect(statusFor(0.005, ERROR_RATE)).toBe('healthy');
    expect(statusFor(0.01, ERROR_RATE)).toBe('warning');
    expect(statusFor(0.049, ERROR_RATE)).toBe('warning');
    expect(statusFor(0.05, ERROR_RATE)).toBe('critical');
    expect(statusFor(999, P95_LATENCY_MS)).toBe('healthy');
    expect(statusFor(1000, P95_LATENCY_MS)).toBe('warning');
    expect(statusFor(7000, P95_LATENCY_MS)).toBe('critical');
  });
  it('inverts when lower is worse, and is unknown without a value', () => {
    const quality = { warning: 0.8, critical: 0.5, higherIsWorse: false };
    expect(statusFor(0.9, quality)).toBe('healthy');
    expect(statusFor(0.8, quality)).toBe('warning');
    expect(statusFor(0.4, quality)).toBe('critical');
    expect(statusFor(null, quality)).toBe('unknown');
    expect(statusFor(Number.NaN, quality)).toBe('unknown');
  });
});

describe('trendArrow', () => {
  it('points the way the trend goes and colours by whether that is bad', () => {
    expect(trendArrow('increasing', true)).toMatchObject({ arrow: '↑', tone: 'bad' });
    expect(trendArrow('decreasing', true)).toMatchObject({ arrow: '↓', tone: 'good' });
    expect(trendArrow('increasing', false)).toMatchObject({ arrow: '↑', tone: 'good' });
    expect(trendArrow('flat')).toMatchObject({ arrow: '→', tone: 'neutral' });
    expect(trendArrow(null)).toBeNull();
  });
});

describe('localDirection', () => {
  it('classifies a least-squares slope', () => {
    expect(localDirection([1, 2, 3, 4, 5])).toBe('increasing');
    expect(localDirection([5, 4, 3, 2, 1])).toBe('decreasing');
    expect(localDirection([10, 10.1, 9.9, 10, 10])).toBe('flat');
    expect(localDirection([0, 0, 0, 0])).toBe('flat');
    expect(localDirection([1, 2])).toBeNull();
  });
});

describe('alertsStatus', () => {
  it('is healthy with none, critical with a high or critical one, else warning', () => {
    expect(alertsStatus([])).toBe('healthy');
    expect(alertsStatus(['low', 'medium'])).toBe('warning');
    expect(alertsStatus(['low', 'high'])).toBe('critical');
    expect(alertsStatus(['critical'])).toBe('critical');
  });
});

describe('bySeverityThenTime', () => {
  it('sorts most severe first, then newest first', () => {
    const a = [
      { severity: 'low', startsAt: '2026-01-01T00:00:03Z' },
      { severity: 'critical', startsAt: '2026-01-01T00:00:01Z' },
      { severity: 'critical', startsAt: '2026-01-01T00:00:02Z' },
    ].sort(bySeverityThenTime);
    expect(a.map((x) => `${x.severity}@${x.startsAt.slice(-3, -1)}`)).toEqual(['critical@02', 'critical@01', 'low@03']);
  });
});
