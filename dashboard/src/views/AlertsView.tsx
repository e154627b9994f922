import { fetchActiveAlerts, fetchAlertHistory } from '../api/client';
import { AlertTable } from '../components/AlertTable';
import { useAsync, useInterval } from '../lib/hooks';
import { useLiveTick } from '../lib/live';

/** Active alerts and the history of firing and resolved alerts; refreshes when an alert
 * message arrives on the live stream. */
export function AlertsView() {
  const alertTick = useLiveTick(200, (m) => m.kind === 'alert');
  const slow = useInterval(15_000);
  const active = useAsync((s) => fetchActiveAlerts(s), [alertTick, slow]);
  const history = useAsync((s) => fetchAlertHistory(s), [alertTick, slow]);
  return (
    <div className="stack">
      <section className="card">
        <header className="panel-head">
          <h2>Active alerts {active.data ? <span className="count">{active.data.length}</span> : null}</h2>
          <a href="#/rules">rules →</a>
        </header>
        {active.error ? <p className="error">{active.error.message}</p> : null}
        <AlertTable alerts={active.data ?? []} empty="Nothing is firing." testId="active-alerts" />
      </section>
      <section className="card">
        <header className="panel-head">
          <h2>History</h2>
        </header>
        {history.error ? <p className="error">{history.error.message}</p> : null}
        <AlertTable alerts={history.data ?? []} empty="No alerts yet." testId="alert-history" keepOrder />
      </section>
    </div>
  );
}
