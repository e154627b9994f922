import { useConnection } from '../lib/live';

/** Says when the live connection is down; the stream reconnects by itself. */
export function ConnectionBanner() {
  const c = useConnection();
  const down = c.state === 'reconnecting';
  if (!down) return null;
  return (
    <div className="banner banner-down" role="status" data-testid="disconnected-banner">
      <strong>Disconnected from the server</strong> — live updates are paused; reconnecting…
      {c.detail ? <span className="sub"> ({c.detail})</span> : null}
    </div>
  );
}

export function ConnectionDot() {
  const c = useConnection();
  const label =
    c.state === 'open' ? 'live' : c.state === 'unauthorized' ? 'needs key' : c.state === 'reconnecting' ? 'offline' : 'connecting';
  return (
    <span className={`conn conn-${c.state}`} data-testid="connection-state" data-state={c.state}>
      <span className="dot" /> {label}
    </span>
  );
}
