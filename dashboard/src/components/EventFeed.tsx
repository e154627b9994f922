import { useEffect, useMemo, useRef, useState } from 'react';
import { queryRaw } from '../api/client';
import type { MetricEvent } from '../api/types';
import { describePayload, formatClock } from '../lib/format';
import { matchesFilters, mergeByTime, mergeNewest, type FeedFilters } from '../lib/filter';
import { useAuth, useDebounced } from '../lib/hooks';
import { useLive } from '../lib/live';
import { TypeBadge } from './Badges';

export interface EventFeedProps {
  /** Rows kept and shown. */
  cap?: number;
  compact?: boolean;
  initialFilters?: FeedFilters;
}

/** Newest-first events: the latest stored ones, then live ones as they arrive. Pausing
 * freezes the list and counts what arrived meanwhile; resuming shows it. */
export function EventFeed({ cap = 300, compact = false, initialFilters = {} }: EventFeedProps) {
  const [filters, setFilters] = useState<FeedFilters>(initialFilters);
  const [events, setEvents] = useState<MetricEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const buffer = useRef<MetricEvent[]>([]);
  const [buffered, setBuffered] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const auth = useAuth();
  // Bumped when the stream resyncs: what it missed is fetched from the store.
  const [reload, setReload] = useState(0);

  // The store is asked with the dimension filters, so filtering finds older events too;
  // typing in the text boxes waits for a pause before asking.
  const serverFilters = useDebounced(
    JSON.stringify({
      type: filters.type,
      source: filters.source,
      agentType: filters.agentType,
      projectId: filters.projectId,
      sessionId: filters.sessionId,
    }),
    300,
  );
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  useEffect(() => {
    const abort = new AbortController();
    const f = JSON.parse(serverFilters) as FeedFilters;
    queryRaw({ limit: cap, ...f }, abort.signal).then(
      (a) => {
        setError(null);
        // Live events may have arrived while this was in flight: keep those that match.
        setEvents((cur) => mergeByTime(a.data, cur.filter((e) => matchesFilters(e, { ...filtersRef.current, text: undefined })), cap));
      },
      (e: unknown) => {
        if (!abort.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => abort.abort();
  }, [cap, auth.version, reload, serverFilters]);

  // Live events are applied in batches, at most every 100 ms, so a burst of thousands of
  // events a second costs a few renders rather than one per event.
  const pending = useRef<MetricEvent[]>([]);
  const flushTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (flushTimer.current) clearTimeout(flushTimer.current);
    },
    [],
  );
  const flush = () => {
    flushTimer.current = null;
    const batch = pending.current;
    pending.current = [];
    if (batch.length === 0) return;
    if (pausedRef.current) {
      buffer.current.push(...batch);
      if (buffer.current.length > cap) buffer.current = buffer.current.slice(-cap);
      setBuffered((n) => n + batch.length);
    } else {
      setEvents((cur) => mergeNewest(cur, batch, cap));
    }
  };
  useLive((m) => {
    if (m.kind === 'resync') setReload((n) => n + 1);
    if (m.kind !== 'event') return;
    pending.current.push(m.event);
    if (!flushTimer.current) flushTimer.current = setTimeout(flush, 100);
  });

  const resume = () => {
    const held = [...buffer.current, ...pending.current];
    pending.current = [];
    buffer.current = [];
    setEvents((cur) => mergeNewest(cur, held, cap));
    setBuffered(0);
    setPaused(false);
  };

  const shown = useMemo(() => events.filter((e) => matchesFilters(e, filters)), [events, filters]);
  const set = (k: keyof FeedFilters) => (ev: { target: { value: string } }) =>
    setFilters((f) => ({ ...f, [k]: ev.target.value || undefined }));

  return (
    <section className={`card feed ${compact ? 'compact' : ''}`} data-testid="event-feed">
      <header className="panel-head">
        <h2>Live events</h2>
        <div className="controls">
          {!compact ? (
            <>
              <select aria-label="type" value={filters.type ?? ''} onChange={set('type')}>
                <option value="">all types</option>
                <option>performance</option>
                <option>error</option>
                <option>coordination</option>
                <option>quality</option>
              </select>
              <select aria-label="source" value={filters.source ?? ''} onChange={set('source')}>
                <option value="">all sources</option>
                <option>claude-cli</option>
                <option>dual-agent</option>
                <option>system</option>
              </select>
              <select aria-label="agent type" value={filters.agentType ?? ''} onChange={set('agentType')}>
                <option value="">all agents</option>
                <option>manager</option>
                <option>worker</option>
              </select>
              <input aria-label="project" placeholder="project" value={filters.projectId ?? ''} onChange={set('projectId')} />
              <input aria-label="session" placeholder="session" value={filters.sessionId ?? ''} onChange={set('sessionId')} />
              <input aria-label="search" placeholder="search…" value={filters.text ?? ''} onChange={set('text')} />
            </>
          ) : null}
          {paused ? (
            <button type="button" data-testid="feed-resume" onClick={resume}>
              ▶ resume{buffered ? ` (${buffered} new)` : ''}
            </button>
          ) : (
            <button type="button" data-testid="feed-pause" onClick={() => setPaused(true)}>
              ❚❚ pause
            </button>
          )}
        </div>
      </header>
      {error ? <p className="error">Could not load events: {error}</p> : null}
      <div className="feed-scroll">
        <table className="feed-table">
          <thead>
            <tr>
              <th>time</th>
              <th>type</th>
              {!compact ? <th>source</th> : null}
              <th>project</th>
              <th>session</th>
              <th>agent</th>
              <th>detail</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => (
              <tr key={e.id} data-testid="feed-row" data-event-id={e.id} className={isFailure(e) ? 'row-error' : undefined}>
                <td className="mono">{formatClock(e.timestamp, true)}</td>
                <td>
                  <TypeBadge type={e.type} />
                </td>
                {!compact ? <td>{e.source}</td> : null}
                <td>{e.projectId ?? ''}</td>
                <td>{e.sessionId ? <a href={`#/sessions/${encodeURIComponent(e.sessionId)}`}>{e.sessionId}</a> : ''}</td>
                <td>{e.agentType ?? ''}</td>
                <td className="detail">{describePayload(e.type, e.payload)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {shown.length === 0 ? <p className="empty">No events{events.length ? ' match these filters' : ' yet'}.</p> : null}
      </div>
    </section>
  );
}

function isFailure(e: MetricEvent): boolean {
  return e.type === 'error' || e.payload?.success === false;
}
