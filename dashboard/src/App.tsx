import { useEffect } from 'react';
import { AuthPrompt } from './components/AuthPrompt';
import { ConnectionBanner, ConnectionDot } from './components/ConnectionBanner';
import { EventFeed } from './components/EventFeed';
import { useRoute } from './lib/hooks';
import { hub } from './lib/live';
import { AlertsView } from './views/AlertsView';
import { BenchView } from './views/BenchView';
import { Overview } from './views/Overview';
import { RulesView } from './views/RulesView';
import { SessionsView } from './views/SessionsView';

const TABS: { id: string; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'events', label: 'Live events' },
  { id: 'alerts', label: 'Alerts' },
  { id: 'sessions', label: 'Sessions' },
  { id: 'rules', label: 'Rules' },
];

export function App() {
  const { path, query } = useRoute();
  const view = path[0] ?? 'overview';

  useEffect(() => {
    hub.start();
    // Marks the app as interactive for the first-load measurement in the browser test.
    document.documentElement.dataset.ready = String(performance.now());
    return () => hub.stop();
  }, []);

  let body;
  switch (view) {
    case 'events':
      body = <EventFeed cap={500} />;
      break;
    case 'alerts':
      body = <AlertsView />;
      break;
    case 'sessions':
      body = <SessionsView sessionId={path[1]} />;
      break;
    case 'rules':
      body = <RulesView />;
      break;
    case 'bench':
      body = <BenchView n={Number(query.get('n') ?? 50_000)} series={Number(query.get('series') ?? 1)} />;
      break;
    default:
      body = <Overview />;
  }

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/">
          agent-monitor
        </a>
        <nav>
          {TABS.map((t) => (
            <a key={t.id} href={`#/${t.id}`} className={view === t.id ? 'active' : ''} data-testid={`tab-${t.id}`}>
              {t.label}
            </a>
          ))}
        </nav>
        <ConnectionDot />
      </header>
      <ConnectionBanner />
      <main>{body}</main>
      <AuthPrompt onKey={() => hub.restart()} />
    </div>
  );
}
