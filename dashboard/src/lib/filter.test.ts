import { describe, expect, it } from 'vitest';
import type { MetricEvent } from '../api/types';
import { matchesFilters, mergeByTime, mergeNewest } from './filter';

const ev = (id: string, ts: string, over: Partial<MetricEvent> = {}): MetricEvent => ({
  id,
  timestamp: ts,
  source: 'claude-cli',
  type: 'performance',
  projectId: 'p1',
  sessionId: 's1',
  agentType: 'worker',
  payload: { operation: 'tool:Bash', duration: 10, success: true },
  ...over,
});

describe('matchesFilters', () => {
  const e = ev('1', '2026-11-28T12:00:00Z');
  it('requires every given filter', () => {
    expect(matchesFilters(e, {})).toBe(true);
    expect(matchesFilters(e, { type: 'performance', projectId: 'p1', agentType: 'worker' })).toBe(true);
    expect(matchesFilters(e, { type: 'error' })).toBe(false);
    expect(matchesFilters(e, { sessionId: 's2' })).toBe(false);
    expect(matchesFilters(e, { operation: 'tool:Bash' })).toBe(true);
  });
  it('searches text case-insensitively in operation, message and ids', () => {
    expect(matchesFilters(e, { text: 'BASH' })).toBe(true);
    expect(matchesFilters(ev('2', 't', { type: 'error', payload: { message: 'Disk full' } }), { text: 'disk' })).toBe(true);
    expect(matchesFilters(e, { text: 'nothing' })).toBe(false);
  });
});

describe('merging', () => {
  it('prepends live events newest first, skipping known ids, capped', () => {
    const list = [ev('b', '2026-11-28T12:00:02Z'), ev('a', '2026-11-28T12:00:01Z')];
    const out = mergeNewest(list, [ev('c', '2026-11-28T12:00:03Z'), ev('b', 'x'), ev('d', '2026-11-28T12:00:04Z')], 3);
    expect(out.map((e) => e.id)).toEqual(['d', 'c', 'b']);
    expect(mergeNewest(list, [], 3)).toBe(list);
  });
  it('merges fetched and shown lists by time', () => {
    const out = mergeByTime(
      [ev('b', '2026-11-28T12:00:02Z'), ev('a', '2026-11-28T12:00:01Z')],
      [ev('c', '2026-11-28T12:00:03Z'), ev('a', '2026-11-28T12:00:01Z'), ev('z', '2026-11-28T11:00:00Z')],
      3,
    );
    expect(out.map((e) => e.id)).toEqual(['c', 'b', 'a']);
  });
});
