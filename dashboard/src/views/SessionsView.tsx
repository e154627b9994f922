import { useMemo, useState, type FormEvent } from 'react';
import { queryAggregated, queryRaw } from '../api/client';
import type { MetricEvent } from '../api/types';
import { TypeBadge } from '../components/Badges';
import { describePayload, formatAgo, formatClock, formatDuration, formatNumber } from '../lib/format';
import { useAsync } from '../lib/hooks';
import { useLiveTick } from '../lib/live';
import { rangeEndingNow } from '../lib/series';
import { buildTimeline, type Timeline } from '../lib/timeline';

export function SessionsView({ sessionId }: { sessionId?: string }) {
  return sessionId ? <SessionDetail sessionId={sessionId} /> : <SessionList />;
}

interface SessionRow {
  id: string;
  projects: Set<string>;
  events: number;
  errors: number;
  last: number;
}

/** Sessions seen in the last 24 hours, most recent first. */
function SessionList() {
  const tick = useLiveTick(2000, (m) => m.kind === 'event');
  const [goto, setGoto] = useState('');
  const q = useAsync(
    (s) => queryAggregated({ ...rangeEndingNow(24 * 3_600_000), aggregation: '1h', groupBy: 'sessionId,projectId,type' }, s),
    [tick],
  );
  // Hourly buckets say little about "last active"; the last hour in 5-minute buckets
  // sharpens it for the sessions that matter most.
  const recent = useAsync(
    (s) => queryAggregated({ ...rangeEndingNow(3_600_000), aggregation: '5m', groupBy: 'sessionId' }, s),
    [tick],
  );
  const rows = useMemo(() => {
    const now = Date.now();
    const recentEnd = new Map<string, number>();
    for (const p of recent.data?.data ?? []) {
      const id = p.group?.sessionId;
      if (!id) continue;
      const end = Math.min(now, Date.parse(p.timestamp) + 300_000);
      recentEnd.set(id, Math.max(recentEnd.get(id) ?? 0, end));
    }
    const m = new Map<string, SessionRow>();
    for (const p of q.data?.data ?? []) {
      const id = p.group?.sessionId;
      if (!id) continue;
      let r = m.get(id);
      if (!r) {
        r = { id, projects: new Set(), events: 0, errors: 0, last: 0 };
        m.set(id, r);
      }
      if (p.group?.projectId) r.projects.add(p.group.projectId);
      r.events += p.count;
      if (p.group?.type === 'error') r.errors += p.count;
      // The end of the newest bucket with events: an upper bound of the last activity.
      r.last = Math.max(r.last, recentEnd.get(id) ?? Math.min(now, Date.parse(p.timestamp) + 3_600_000));
    }
    return [...m.values()].sort((a, b) => b.last - a.last || a.id.localeCompare(b.id));
  }, [q.data, recent.data]);
  const open = (e: FormEvent) => {
    e.preventDefault();
    if (goto.trim()) window.location.hash = `#/sessions/${encodeURIComponent(goto.trim())}`;
  };
  return (
    <section className="card">
      <header className="panel-head">
        <h2>Sessions (last 24 h)</h2>
        <form className="controls" onSubmit={open}>
          <input aria-label="session id" placeholder="session id" value={goto} onChange={(e) => setGoto(e.target.value)} />
          <button type="submit">open</button>
        </form>
      </header>
      {q.error ? <p className="error">{q.error.message}</p> : null}
      {rows.length === 0 && !q.loading ? <p className="empty">No sessions in the last 24 hours.</p> : null}
      {rows.length ? (
        <table data-testid="session-list">
          <thead>
            <tr>
              <th>session</th>
              <th>project</th>
              <th>events</th>
              <th>errors</th>
              <th title="to 5 minutes within the last hour, to the hour before">last active</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                <td>
                  <a href={`#/sessions/${encodeURIComponent(r.id)}`}>{r.id}</a>
                </td>
                <td>{[...r.projects].join(', ')}</td>
                <td className="mono">{formatNumber(r.events)}</td>
                <td className={`mono ${r.errors ? 'text-bad' : ''}`}>{formatNumber(r.errors)}</td>
                <td>{formatAgo(r.last)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** One session's timeline: operations per agent lane, errors, manager → worker hand-offs. */
function SessionDetail({ sessionId }: { sessionId: string }) {
  const tick = useLiveTick(500, (m) => m.kind === 'event' && m.event.sessionId === sessionId);
  const q = useAsync((s) => queryRaw({ sessionId, limit: 2000 }, s), [sessionId, tick]);
  const events = q.data?.data ?? [];
  const tl = useMemo(() => buildTimeline(events), [events]);
  const ordered = useMemo(() => [...events].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)), [events]);
  return (
    <div className="stack" data-testid="session-detail">
      <section className="card">
        <header className="panel-head">
          <h2>
            Session <span className="mono">{sessionId}</span>
          </h2>
          <a href="#/sessions">all sessions →</a>
        </header>
        {q.error ? <p className="error">{q.error.message}</p> : null}
        {events.length === 0 && !q.loading ? <p className="empty">No events for this session.</p> : null}
        {events.length ? (
          <>
            <div className="summary">
              <span>{formatNumber(events.length)} events</span>
              <span>{formatNumber(tl.operations)} operations</span>
              <span className={tl.errors ? 'text-bad' : ''}>{formatNumber(tl.errors)} errors / failures</span>
              <span>{formatNumber(tl.links.length)} coordination</span>
              <span>span {formatDuration(tl.end - tl.start)}</span>
              {q.data && q.data.metadata.totalPoints > events.length ? (
                <span>showing the newest {events.length} of {q.data.metadata.totalPoints}</span>
              ) : null}
            </div>
            <TimelineSvg tl={tl} />
          </>
        ) : null}
      </section>
      {events.length ? (
        <section className="card">
          <table data-testid="session-events">
            <thead>
              <tr>
                <th>time</th>
                <th>+</th>
                <th>agent</th>
                <th>type</th>
                <th>detail</th>
              </tr>
            </thead>
            <tbody>
              {ordered.map((e: MetricEvent) => (
                <tr key={e.id} className={e.type === 'error' || e.payload?.success === false ? 'row-error' : undefined}>
                  <td className="mono">{formatClock(e.timestamp, true)}</td>
                  <td className="mono">{formatDuration(Date.parse(e.timestamp) - tl.start)}</td>
                  <td>{e.agentType ?? ''}</td>
                  <td>
                    <TypeBadge type={e.type} />
                  </td>
                  <td>{describePayload(e.type, e.payload)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </div>
  );
}

const LANE_H = 44;
const LEFT = 90;
const W = 1000;

function TimelineSvg({ tl }: { tl: Timeline }) {
  const span = Math.max(1, tl.end - tl.start);
  const x = (t: number) => LEFT + ((t - tl.start) / span) * (W - LEFT - 10);
  const laneY = (lane: string) => 20 + tl.lanes.indexOf(lane) * LANE_H + LANE_H / 2;
  const height = 30 + tl.lanes.length * LANE_H;
  return (
    <svg className="timeline" viewBox={`0 0 ${W} ${height}`} role="img" aria-label="session timeline" data-testid="timeline">
      {tl.lanes.map((lane) => (
        <g key={lane}>
          <line x1={LEFT} x2={W - 10} y1={laneY(lane)} y2={laneY(lane)} className="lane-line" />
          <text x={8} y={laneY(lane) + 4} className="lane-label">
            {lane}
          </text>
        </g>
      ))}
      {tl.links.map((l) => (
        <g key={l.id} className="link">
          <line x1={x(l.t)} x2={x(l.t)} y1={laneY(l.from)} y2={laneY(l.to)} />
          <polygon points={`${x(l.t) - 4},${laneY(l.to) - 8} ${x(l.t) + 4},${laneY(l.to) - 8} ${x(l.t)},${laneY(l.to) - 2}`} />
          <title>{l.label}</title>
        </g>
      ))}
      {tl.items.map((it) => {
        const y = laneY(it.lane);
        const cls = `item type-${it.type} ${it.failed ? 'failed' : ''}`;
        if (it.duration && it.duration > 0) {
          const w = Math.max(3, x(it.t + it.duration) - x(it.t));
          return (
            <rect key={it.id} className={cls} x={x(it.t)} y={y - 8} width={w} height={16} rx={3}>
              <title>{`${formatClock(it.t, true)} ${it.label}`}</title>
            </rect>
          );
        }
        return (
          <circle key={it.id} className={cls} cx={x(it.t)} cy={y} r={6}>
            <title>{`${formatClock(it.t, true)} ${it.label}`}</title>
          </circle>
        );
      })}
      <text x={LEFT} y={height - 4} className="axis-label">
        {formatClock(tl.start)}
      </text>
      <text x={W - 10} y={height - 4} className="axis-label" textAnchor="end">
        {formatClock(tl.end)}
      </text>
    </svg>
  );
}
