import type { EventFilters, MetricEvent } from '../api/types';

export interface FeedFilters extends EventFilters {
  /** Free text matched against operation, message, code, ids. */
  text?: string;
}

/** Whether an event passes the feed's filters (all given ones must match). */
export function matchesFilters(e: MetricEvent, f: FeedFilters): boolean {
  if (f.type && e.type !== f.type) return false;
  if (f.source && e.source !== f.source) return false;
  if (f.agentType && e.agentType !== f.agentType) return false;
  if (f.projectId && e.projectId !== f.projectId) return false;
  if (f.sessionId && e.sessionId !== f.sessionId) return false;
  if (f.operation && e.payload?.operation !== f.operation) return false;
  if (f.text) {
    const needle = f.text.toLowerCase();
    const hay = [
      e.payload?.operation,
      e.payload?.message,
      e.payload?.code,
      e.payload?.phase,
      e.payload?.metric,
      e.sessionId,
      e.projectId,
      e.id,
    ]
      .filter((v) => typeof v === 'string')
      .join(' ')
      .toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

/** Prepends live events to a newest-first list, skipping ids already present, capped. */
export function mergeNewest(list: MetricEvent[], incoming: MetricEvent[], cap: number): MetricEvent[] {
  if (incoming.length === 0) return list;
  const have = new Set(list.map((e) => e.id));
  const fresh = incoming.filter((e) => !have.has(e.id));
  if (fresh.length === 0) return list;
  // incoming is oldest-first (arrival order); the list is newest-first.
  return [...fresh.reverse(), ...list].slice(0, cap);
}

/** The union of two event lists by id, newest first by timestamp, capped. */
export function mergeByTime(a: MetricEvent[], b: MetricEvent[], cap: number): MetricEvent[] {
  const byId = new Map<string, MetricEvent>();
  for (const e of a) byId.set(e.id, e);
  for (const e of b) if (!byId.has(e.id)) byId.set(e.id, e);
  return [...byId.values()]
    .sort((x, y) => Date.parse(y.timestamp) - Date.parse(x.timestamp) || (y.id < x.id ? -1 : y.id > x.id ? 1 : 0))
    .slice(0, cap);
}
