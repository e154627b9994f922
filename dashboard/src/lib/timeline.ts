import type { MetricEvent } from '../api/types';
import { describePayload } from './format';

export interface TimelineItem {
  id: string;
  t: number;
  lane: string;
  type: string;
  /** Milliseconds the operation took, for performance events. */
  duration: number | null;
  failed: boolean;
  label: string;
}

export interface TimelineLink {
  id: string;
  t: number;
  from: string;
  to: string;
  label: string;
}

export interface Timeline {
  start: number;
  end: number;
  lanes: string[];
  items: TimelineItem[];
  /** Manager → worker coordination, drawn between the two lanes. */
  links: TimelineLink[];
  counts: Record<string, number>;
  errors: number;
  operations: number;
}

const LANE_ORDER = ['manager', 'worker', 'agent'];

/**
 * One session's events as a timeline: a lane per agent type (manager, worker, or "agent"
 * for single-agent sessions), items in time order, and coordination events as links from
 * the manager lane to the worker lane.
 */
export function buildTimeline(events: MetricEvent[]): Timeline {
  const sorted = [...events].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || a.id.localeCompare(b.id));
  const lanes = new Set<string>();
  const items: TimelineItem[] = [];
  const links: TimelineLink[] = [];
  const counts: Record<string, number> = {};
  let errors = 0;
  let operations = 0;
  let start = Infinity;
  let end = -Infinity;
  for (const e of sorted) {
    const t = Date.parse(e.timestamp);
    if (Number.isNaN(t)) continue;
    const p = e.payload ?? {};
    const duration = typeof p.duration === 'number' ? p.duration : null;
    start = Math.min(start, t);
    end = Math.max(end, t + (duration ?? 0));
    counts[e.type] = (counts[e.type] ?? 0) + 1;
    const failed = e.type === 'error' || p.success === false;
    if (failed) errors += 1;
    if (e.type === 'performance') operations += 1;
    if (e.type === 'coordination') {
      lanes.add('manager');
      lanes.add('worker');
      links.push({
        id: e.id,
        t,
        from: 'manager',
        to: 'worker',
        label: describePayload(e.type, p),
      });
      continue;
    }
    const lane = e.agentType || 'agent';
    lanes.add(lane);
    items.push({ id: e.id, t, lane, type: e.type, duration, failed, label: describePayload(e.type, p) });
  }
  const laneList = [...lanes].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (!Number.isFinite(start)) {
    start = 0;
    end = 0;
  }
  return { start, end, lanes: laneList, items, links, counts, errors, operations };
}

function rank(lane: string): number {
  const i = LANE_ORDER.indexOf(lane);
  return i < 0 ? LANE_ORDER.length : i;
}
