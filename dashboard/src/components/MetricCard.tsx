import type { Status, TrendArrow } from '../lib/status';

export interface MetricCardProps {
  title: string;
  value: string;
  status: Status;
  trend?: TrendArrow | null;
  hint?: string;
  testId?: string;
}

/** One headline number with its health and which way it is heading. */
export function MetricCard({ title, value, status, trend, hint, testId }: MetricCardProps) {
  return (
    <section className={`card metric-card status-${status}`} data-testid={testId} data-status={status}>
      <header>
        <h3>{title}</h3>
        <span className={`status-dot status-${status}`} title={status} aria-label={`status ${status}`} />
      </header>
      <div className="metric-value">
        <span className="value" data-testid={testId ? `${testId}-value` : undefined}>
          {value}
        </span>
        {trend ? (
          <span className={`trend trend-${trend.tone}`} title={`trend: ${trend.label}`} data-direction={trend.direction}>
            {trend.arrow}
          </span>
        ) : null}
      </div>
      <footer>
        <span className={`status-text status-${status}`}>{status}</span>
        {hint ? <span className="hint">{hint}</span> : null}
      </footer>
    </section>
  );
}
