import { fetchActiveAlerts, fetchTrend, queryAggregated } from '../api/client';
import { AlertTable } from '../components/AlertTable';
import { ChartPanel } from '../components/ChartPanel';
import { EventFeed } from '../components/EventFeed';
import { MetricCard } from '../components/MetricCard';
import { formatDuration, formatNumber, formatPercent, formatRate } from '../lib/format';
import { useAsync, useInterval } from '../lib/hooks';
import { useLiveTick } from '../lib/live';
import { computeRates, distinctSessions, latestP95 } from '../lib/overview';
import { rangeEndingNow } from '../lib/series';
import {
  alertsStatus,
  ERROR_RATE,
  localDirection,
  P95_LATENCY_MS,
  statusFor,
  trendArrow,
} from '../lib/status';

/** The landing page: headline cards, the time-series chart, firing alerts, live events. */
export function Overview() {
  // Cards follow live events (at most once a second) and a slow timer, so they also move
  // when nothing arrives (a rate decays to zero).
  const live = useLiveTick(1000);
  const tick = useInterval(10_000);
  const deps = [live, tick];

  const rates = useAsync(async (signal) => {
    const now = Date.now();
    const a = await queryAggregated({ ...rangeEndingNow(15 * 60_000, now), aggregation: '1m', groupBy: 'type' }, signal);
    return computeRates(a.data, now);
  }, deps);
  const p95 = useAsync(async (signal) => {
    const a = await queryAggregated(
      { ...rangeEndingNow(30 * 60_000), aggregation: '5m', field: 'duration', type: 'performance' },
      signal,
    );
    return latestP95(a.data);
  }, deps);
  const latencyTrend = useAsync(
    (signal) =>
      fetchTrend({ field: 'duration', stat: 'p95', window: '1h', aggregation: '5m', type: 'performance' }, signal),
    deps,
  );
  const sessions = useAsync(async (signal) => {
    const a = await queryAggregated(
      { ...rangeEndingNow(15 * 60_000), aggregation: '1h', groupBy: 'sessionId' },
      signal,
    );
    return distinctSessions(a.data);
  }, deps);
  const alerts = useAsync((signal) => fetchActiveAlerts(signal), deps);
  const firing = (alerts.data ?? []).filter((a) => a.status === 'firing');

  const r = rates.data;
  return (
    <div className="overview">
      <div className="cards" data-testid="metric-cards">
        <MetricCard
          testId="card-event-rate"
          title="Event rate"
          value={r ? formatRate(r.perMinute) : '—'}
          status={r ? 'healthy' : 'unknown'}
          trend={trendArrow(r ? localDirection(r.totals) : null, false)}
          hint="last 5 min"
        />
        <MetricCard
          testId="card-error-rate"
          title="Error rate"
          value={r ? formatPercent(r.errorRatio ?? 0) : '—'}
          status={r ? statusFor(r.errorRatio ?? 0, ERROR_RATE) : 'unknown'}
          trend={trendArrow(r ? localDirection(r.errorRatios) : null, true)}
          hint="errors / events, 5 min"
        />
        <MetricCard
          testId="card-p95"
          title="p95 latency"
          value={formatDuration(p95.data)}
          status={p95.data === undefined ? 'unknown' : p95.data === null ? 'healthy' : statusFor(p95.data, P95_LATENCY_MS)}
          trend={trendArrow(latencyTrend.data?.direction, true)}
          hint={
            latencyTrend.data
              ? `trend ${formatDuration(latencyTrend.data.slopePerHour)}/h, r² ${formatNumber(latencyTrend.data.rSquared)}`
              : 'operations, latest 5 min'
          }
        />
        <MetricCard
          testId="card-sessions"
          title="Active sessions"
          value={sessions.data ? formatNumber(sessions.data.length) : '—'}
          status={sessions.data ? 'healthy' : 'unknown'}
          hint="seen in 15 min"
        />
        <MetricCard
          testId="card-alerts"
          title="Active alerts"
          value={alerts.data ? formatNumber(firing.length) : '—'}
          status={alerts.data ? alertsStatus(firing.map((a) => a.severity)) : 'unknown'}
          hint={firing.length ? firing.map((a) => a.name).slice(0, 2).join(', ') : 'none firing'}
        />
      </div>
      <ChartPanel />
      <div className="two-col">
        <section className="card">
          <header className="panel-head">
            <h2>
              Firing alerts <a href="#/alerts">all alerts →</a>
            </h2>
          </header>
          <AlertTable alerts={firing} empty="Nothing is firing." testId="overview-alerts" compact />
        </section>
        <EventFeed compact cap={50} />
      </div>
    </div>
  );
}
