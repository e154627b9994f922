import { describe, expect, it } from 'vitest';
import type { MetricEvent } from '../api/types';
import { buildTimeline } from './timeline';

const ev = (id: string, ts: string, type: string, agentType: string | null, payload: Record<string, unknown>): MetricEvent => ({
  id,
  timestamp: ts,
  source: 'dual-agent',
  type,
  sessionId: 's',
  agentType,
  payload,
});

describe('buildTimeline', () => {
  it('puts manager before worker, links coordination, counts errors and operations', () => {
    const tl = buildTimeline([
      // newest first, as the raw query answers
      ev('4', '2026-11-28T12:00:04Z', 'error', 'worker', { message: 'boom' }),
      ev('3', '2026-11-28T12:00:02Z', 'performance', 'worker', { operation: 'tool:Bash', duration: 1500, success: false }),
      ev('2', '2026-11-28T12:00:01Z', 'coordination', 'manager', { managerId: 'm', workerId: 'w', phase: 'assign', taskId: 't1' }),
      ev('1', '2026-11-28T12:00:00Z', 'performance', 'manager', { operation: 'plan', duration: 500, success: true }),
    ]);
    expect(tl.lanes).toEqual(['manager', 'worker']);
    expect(tl.items.map((i) => i.id)).toEqual(['1', '3', '4']);
    expect(tl.links).toHaveLength(1);
    expect(tl.links[0]).toMatchObject({ from: 'manager', to: 'worker', id: '2' });
    expect(tl.errors).toBe(2);
    expect(tl.operations).toBe(2);
    expect(tl.counts).toEqual({ performance: 2, coordination: 1, error: 1 });
    expect(tl.start).toBe(Date.parse('2026-11-28T12:00:00Z'));
    expect(tl.end).toBe(Date.parse('2026-11-28T12:00:04Z'));
  });

  it('uses one "agent" lane for single-agent sessions, and copes with none', () => {
    const tl = buildTimeline([ev('1', '2026-11-28T12:00:00Z', 'performance', null, { operation: 'x', duration: 100 })]);
    expect(tl.lanes).toEqual(['agent']);
    expect(tl.end - tl.start).toBe(100);
    expect(buildTimeline([])).toMatchObject({ lanes: [], start: 0, end: 0 });
  });
});
