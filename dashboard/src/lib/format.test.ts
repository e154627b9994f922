import { describe, expect, it } from 'vitest';
import { describePayload, formatAgo, formatDuration, formatNumber, formatPercent, formatRate } from './format';

describe('formatNumber', () => {
  it('groups thousands and abbreviates large values', () => {
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(1234)).toBe('1,234');
    expect(formatNumber(12_345)).toBe('12.3k');
    expect(formatNumber(2_500_000)).toBe('2.5M');
    expect(formatNumber(3e9)).toBe('3G');
  });
  it('keeps few decimals for fractions and a dash for missing values', () => {
    expect(formatNumber(3.14159)).toBe('3.14');
    expect(formatNumber(42.25)).toBe('42.3');
    expect(formatNumber(123.6)).toBe('124');
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(Number.NaN)).toBe('—');
  });
});

describe('formatDuration', () => {
  it('picks the unit by size', () => {
    expect(formatDuration(0.25)).toBe('0.25 ms');
    expect(formatDuration(5.55)).toBe('5.5 ms');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1250)).toBe('1.25 s');
    expect(formatDuration(125_000)).toBe('2m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
    expect(formatDuration(-1500)).toBe('-1.5 s');
    expect(formatDuration(undefined)).toBe('—');
  });
});

describe('formatPercent', () => {
  it('formats ratios with sensible precision', () => {
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.5)).toBe('50%');
    expect(formatPercent(0.0123)).toBe('1.23%');
    expect(formatPercent(0.000123)).toBe('0.012%');
    expect(formatPercent(null)).toBe('—');
  });
});

describe('formatRate', () => {
  it('switches to per second above 600 a minute', () => {
    expect(formatRate(12.5)).toBe('12.5/min');
    expect(formatRate(1200)).toBe('20/s');
  });
});

describe('formatAgo', () => {
  const now = Date.parse('2026-11-28T12:00:00Z');
  it('says how long ago', () => {
    expect(formatAgo('2026-11-28T11:59:58Z', now)).toBe('just now');
    expect(formatAgo('2026-11-28T11:59:18Z', now)).toBe('42s ago');
    expect(formatAgo('2026-11-28T11:55:00Z', now)).toBe('5m ago');
    expect(formatAgo('2026-11-28T09:00:00Z', now)).toBe('3h ago');
    expect(formatAgo('2026-11-26T12:00:00Z', now)).toBe('2d ago');
  });
});

describe('describePayload', () => {
  it('describes each event type in one line', () => {
    expect(describePayload('performance', { operation: 'tool:Bash', duration: 1250, success: false })).toBe(
      'tool:Bash · 1.25 s · failed',
    );
    expect(describePayload('error', { operation: 'tool:Edit', code: 'E42', message: 'boom' })).toBe('tool:Edit · E42 · boom');
    expect(
      describePayload('coordination', { managerId: 'm1', workerId: 'w2', phase: 'assign', taskId: 't9', coordinationScore: 0.9, latencyMs: 40 }),
    ).toBe('m1 → w2 · assign · t9 · score 0.9 · 40 ms');
    expect(describePayload('quality', { metric: 'tests', score: 0.87 })).toBe('tests = 0.87');
  });
});
