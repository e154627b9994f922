import { useMemo, useState } from 'react';
import { fetchAnomalies, queryAggregated } from '../api/client';
import type { AnomalySeries, AggPoint, QueryAnswer } from '../api/types';
import { formatDuration, formatNumber } from '../lib/format';
import { useAsync, useInterval } from '../lib/hooks';
import { useLiveTick } from '../lib/live';
import {
  anomalyMarkers,
  buildSeries,
  limitSeries,
  RANGE_MS,
  rangeEndingNow,
  suggestAggregation,
  type RangePreset,
  type Stat,
} from '../lib/series';
import { TimeSeriesChart } from './TimeSeriesChart';

const AGGS = ['1m', '5m', '1h', '1d'] as const;
type Agg = (typeof AGGS)[number];
const PRESETS = Object.keys(RANGE_MS) as RangePreset[];

const METRICS: { id: string; label: string; field?: string; type?: string; format: (v: number) => string }[] = [
  { id: 'duration', label: 'operation latency', field: 'duration', type: 'performance', format: formatDuration },
  { id: 'count', label: 'events', format: formatNumber },
  { id: 'memoryUsage', label: 'memory (MB)', field: 'memoryUsage', type: 'performance', format: formatNumber },
  { id: 'cpuUsage', label: 'CPU (%)', field: 'cpuUsage', type: 'performance', format: formatNumber },
];

const GROUPS: { id: string; label: string }[] = [
  { id: 'operation', label: 'operation' },
  { id: 'projectId', label: 'project' },
  { id: 'operation,projectId', label: 'operation × project' },
  { id: 'agentType', label: 'agent type' },
  { id: '', label: 'none' },
];

function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** The time-series panel: metric, statistic, grouping, aggregation switch and time range,
 * with anomaly markers from the analytics API. Refreshes as live events arrive. */
export function ChartPanel() {
  const [preset, setPreset] = useState<RangePreset | 'custom'>('1h');
  const [custom, setCustom] = useState(() => ({
    start: toLocalInput(Date.now() - 3_600_000),
    end: toLocalInput(Date.now() + 60_000),
  }));
  const [agg, setAgg] = useState<Agg>('1m');
  const [metricId, setMetricId] = useState('duration');
  const [stat, setStat] = useState<Stat>('p95');
  const [groupBy, setGroupBy] = useState('operation');
  const [renderMs, setRenderMs] = useState<number | null>(null);
  const metric = METRICS.find((m) => m.id === metricId)!;
  const effectiveStat: Stat = metric.field ? stat : 'count';

  const live = useLiveTick(1000, (m) => m.kind === 'event');
  const slide = useInterval(30_000);
  const range = useMemo(() => {
    if (preset === 'custom') {
      const s = new Date(custom.start).getTime();
      const e = new Date(custom.end).getTime();
      return { start: new Date(s).toISOString(), end: new Date(e).toISOString() };
    }
    return rangeEndingNow(RANGE_MS[preset]);
    // live and slide move a range that ends now
  }, [preset, custom, live, slide]);

  const query = useAsync<QueryAnswer<AggPoint>>(
    (signal) =>
      queryAggregated(
        { ...range, aggregation: agg, field: metric.field, type: metric.type, groupBy: groupBy || undefined },
        signal,
      ),
    [range.start, range.end, agg, metric.field, metric.type, groupBy],
  );
  const anomalies = useAsync<AnomalySeries[]>(
    (signal) =>
      metric.field
        ? fetchAnomalies({ field: metric.field, type: metric.type, ...range }, signal).catch(() => [])
        : Promise.resolve([]),
    [range.start, range.end, metric.field, metric.type],
  );

  const groupKeys = groupBy ? groupBy.split(',') : [];
  const { data, hidden } = useMemo(
    () => limitSeries(buildSeries(query.data?.data ?? [], effectiveStat, groupKeys), 12),
    [query.data, effectiveStat, groupBy],
  );
  const markers = useMemo(
    () => anomalyMarkers(anomalies.data ?? [], data, groupKeys),
    [anomalies.data, data, groupBy],
  );
  const md = query.data?.metadata;

  return (
    <section className="card chart-panel" data-testid="chart-panel">
      <header className="panel-head">
        <h2>
          {metric.field ? `${effectiveStat} ` : ''}
          {metric.label}
        </h2>
        <div className="controls">
          <select aria-label="metric" value={metricId} onChange={(e) => setMetricId(e.target.value)}>
            {METRICS.map((m) => (
              <option key={m.id} value={m.id}>
                {m.label}
              </option>
            ))}
          </select>
          {metric.field ? (
            <select aria-label="statistic" value={stat} onChange={(e) => setStat(e.target.value as Stat)}>
              {(['p50', 'p95', 'p99', 'avg', 'max', 'min', 'count'] as Stat[]).map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          ) : null}
          <select aria-label="group by" value={groupBy} onChange={(e) => setGroupBy(e.target.value)}>
            {GROUPS.map((g) => (
              <option key={g.id} value={g.id}>
                by {g.label}
              </option>
            ))}
          </select>
          <div className="seg" role="group" aria-label="aggregation">
            {AGGS.map((a) => (
              <button key={a} type="button" aria-pressed={agg === a} data-testid={`agg-${a}`} onClick={() => setAgg(a)}>
                {a}
              </button>
            ))}
          </div>
          <div className="seg" role="group" aria-label="time range">
            {PRESETS.map((p) => (
              <button
                key={p}
                type="button"
                aria-pressed={preset === p}
                data-testid={`range-${p}`}
                onClick={() => {
                  setPreset(p);
                  setAgg(suggestAggregation(RANGE_MS[p]));
                }}
              >
                {p}
              </button>
            ))}
            <button type="button" aria-pressed={preset === 'custom'} onClick={() => setPreset('custom')}>
              custom
            </button>
          </div>
        </div>
      </header>
      {preset === 'custom' ? (
        <div className="custom-range">
          <label>
            from <input type="datetime-local" value={custom.start} onChange={(e) => setCustom({ ...custom, start: e.target.value })} />
          </label>
          <label>
            to <input type="datetime-local" value={custom.end} onChange={(e) => setCustom({ ...custom, end: e.target.value })} />
          </label>
        </div>
      ) : null}
      {query.error ? <p className="error">Query failed: {query.error.message}</p> : null}
      {data.x.length === 0 && !query.loading ? (
        <p className="empty" data-testid="chart-empty">
          No data in this range.
        </p>
      ) : null}
      <TimeSeriesChart data={data} markers={markers} formatValue={metric.format} onRender={setRenderMs} testId="timeseries" />
      <footer className="panel-foot">
        <span data-testid="chart-aggregation">{md ? `aggregation ${md.aggregation}` : ''}</span>
        <span>{md ? `${formatNumber(md.totalPoints)} points` : ''}</span>
        <span>{md ? `query ${md.queryTime.toFixed(1)} ms${md.cacheHit ? ' (cached)' : ''}` : ''}</span>
        <span>{renderMs !== null ? `render ${renderMs.toFixed(1)} ms` : ''}</span>
        <span data-testid="anomaly-count">{markers.length ? `${markers.length} anomalies` : ''}</span>
        {hidden ? <span>{hidden} more groups not shown</span> : null}
      </footer>
    </section>
  );
}
