import type { Alert } from '../api/types';
import { formatAgo, formatDateTime, formatNumber } from '../lib/format';
import { bySeverityThenTime } from '../lib/status';
import { SeverityBadge, StatusBadge } from './Badges';

const HIDDEN_LABELS = new Set(['alertname', 'severity']);

/** Alerts, most severe and newest first (or in the given order with `keepOrder`). */
export function AlertTable({
  alerts,
  empty,
  testId,
  keepOrder = false,
  compact = false,
}: {
  alerts: Alert[];
  empty: string;
  testId?: string;
  keepOrder?: boolean;
  /** Leaves out labels and end time, for the overview's narrow column. */
  compact?: boolean;
}) {
  const rows = keepOrder ? alerts : [...alerts].sort(bySeverityThenTime);
  if (rows.length === 0) return <p className="empty" data-testid={testId}>{empty}</p>;
  return (
    <table className="alert-table" data-testid={testId}>
      <thead>
        <tr>
          <th>severity</th>
          <th>alert</th>
          <th>status</th>
          <th>value</th>
          {compact ? null : <th>labels</th>}
          <th>started</th>
          {compact ? null : <th>ended</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((a, i) => (
          <tr key={`${a.ruleId}-${a.startsAt}-${i}`} data-testid="alert-row" data-rule-id={a.ruleId} data-status={a.status}>
            <td>
              <SeverityBadge severity={a.severity} />
            </td>
            <td>
              <strong>{a.name}</strong>
              {a.annotations?.summary ? <div className="sub">{a.annotations.summary}</div> : null}
            </td>
            <td>
              <StatusBadge status={a.status} />
            </td>
            <td className="mono">{formatNumber(a.value)}</td>
            {compact ? null : (
            <td className="labels">
              {Object.entries(a.labels ?? {})
                .filter(([k]) => !HIDDEN_LABELS.has(k))
                .map(([k, v]) => (
                  <span key={k} className="label">
                    {k}={v}
                  </span>
                ))}
            </td>
            )}
            <td title={formatDateTime(a.startsAt)}>{formatAgo(a.startsAt)}</td>
            {compact ? null : (
              <td title={a.endsAt ? formatDateTime(a.endsAt) : ''}>{a.endsAt ? formatAgo(a.endsAt) : '—'}</td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
