import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { markAuthRequired, setApiKey } from '../api/auth';
import { hub } from '../lib/live';
import { trendArrow } from '../lib/status';
import { AuthPrompt } from './AuthPrompt';
import { ConnectionBanner } from './ConnectionBanner';
import { EventFeed } from './EventFeed';
import { MetricCard } from './MetricCard';
import { RuleEditor } from './RuleEditor';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('MetricCard', () => {
  it('shows value, status and the trend arrow', () => {
    render(<MetricCard testId="c" title="p95 latency" value="1.25 s" status="warning" trend={trendArrow('increasing', true)} />);
    const card = screen.getByTestId('c');
    expect(card.dataset.status).toBe('warning');
    expect(screen.getByTestId('c-value').textContent).toBe('1.25 s');
    const arrow = card.querySelector('.trend')!;
    expect(arrow.textContent).toBe('↑');
    expect(arrow.className).toContain('trend-bad');
  });
  it('leaves the arrow out without a trend', () => {
    render(<MetricCard testId="c" title="x" value="1" status="healthy" />);
    expect(screen.getByTestId('c').querySelector('.trend')).toBeNull();
  });
});

describe('ConnectionBanner', () => {
  it('appears while reconnecting and goes away when the stream is open', () => {
    render(<ConnectionBanner />);
    expect(screen.queryByTestId('disconnected-banner')).toBeNull();
    act(() => hub.handleState('reconnecting', 'connection refused'));
    expect(screen.getByTestId('disconnected-banner').textContent).toMatch(/Disconnected.*connection refused/);
    act(() => hub.handleState('open'));
    expect(screen.queryByTestId('disconnected-banner')).toBeNull();
  });
});

const rawAnswer = (events: unknown[]) =>
  new Response(JSON.stringify({ data: events, metadata: { totalPoints: events.length, aggregation: 'raw', cacheHit: false, queryTime: 1 } }), {
    status: 200,
  });

const event = (id: string, operation: string) => ({
  id,
  timestamp: new Date().toISOString(),
  source: 'claude-cli',
  type: 'performance',
  projectId: 'p',
  sessionId: 's',
  payload: { operation, duration: 12, success: true },
});

describe('EventFeed', () => {
  beforeEach(() => {
    vi.stubGlobal('fetch', vi.fn().mockImplementation(async () => rawAnswer([event('old-1', 'tool:Read')])));
  });

  it('shows stored events, then live ones on top; pause holds them back and counts them', async () => {
    render(<EventFeed cap={10} />);
    await screen.findByText(/tool:Read/);
    const rows = () => screen.getAllByTestId('feed-row').map((r) => r.dataset.eventId);
    act(() => hub.dispatch({ event: 'metric', id: '1', data: JSON.stringify(event('live-1', 'tool:Bash')) }));
    await waitFor(() => expect(rows()).toEqual(['live-1', 'old-1']));

    fireEvent.click(screen.getByTestId('feed-pause'));
    act(() => hub.dispatch({ event: 'metric', id: '2', data: JSON.stringify(event('live-2', 'tool:Edit')) }));
    await waitFor(() => expect(screen.getByTestId('feed-resume').textContent).toContain('1 new'));
    expect(rows()).toEqual(['live-1', 'old-1']);
    fireEvent.click(screen.getByTestId('feed-resume'));
    expect(rows()).toEqual(['live-2', 'live-1', 'old-1']);

    // A replayed event (same id) is not shown twice.
    act(() => hub.dispatch({ event: 'metric', id: '2', data: JSON.stringify(event('live-2', 'tool:Edit')) }));
    await new Promise((r) => setTimeout(r, 150));
    expect(rows()).toEqual(['live-2', 'live-1', 'old-1']);
  });

  it('applies a burst of live events in one batch', async () => {
    render(<EventFeed cap={500} />);
    await screen.findByText(/tool:Read/);
    act(() => {
      for (let i = 0; i < 300; i++) hub.dispatch({ event: 'metric', id: String(100 + i), data: JSON.stringify(event(`burst-${i}`, 'tool:Grep')) });
    });
    await waitFor(() => expect(screen.getAllByTestId('feed-row')).toHaveLength(301));
    expect(screen.getAllByTestId('feed-row')[0]!.dataset.eventId).toBe('burst-299');
  });

  it('filters by type and text', async () => {
    render(<EventFeed cap={10} />);
    await screen.findByText(/tool:Read/);
    act(() => hub.dispatch({ event: 'metric', id: '3', data: JSON.stringify({ ...event('err-1', 'tool:Bash'), type: 'error', payload: { message: 'disk full' } }) }));
    await screen.findByText(/disk full/);
    fireEvent.change(screen.getByLabelText('type'), { target: { value: 'error' } });
    expect(screen.getAllByTestId('feed-row').map((r) => r.dataset.eventId)).toEqual(['err-1']);
    fireEvent.change(screen.getByLabelText('type'), { target: { value: '' } });
    fireEvent.change(screen.getByLabelText('search'), { target: { value: 'read' } });
    expect(screen.getAllByTestId('feed-row').map((r) => r.dataset.eventId)).toEqual(['old-1']);
  });
});

describe('RuleEditor', () => {
  it('shows its own validation next to the field without calling the server', async () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    render(<RuleEditor rule={null} onSaved={() => {}} onCancel={() => {}} />);
    fireEvent.change(screen.getByTestId('rule-threshold'), { target: { value: 'lots' } });
    fireEvent.click(screen.getByTestId('rule-save'));
    expect((await screen.findByTestId('error-name')).textContent).toBe('name is required');
    expect(screen.getByTestId('error-threshold').textContent).toBe('threshold must be a number');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("posts the rule and shows the server's 400 message next to the field it names", async () => {
    const fetchMock = vi
      .fn()
      .mockResolvedValue(new Response(JSON.stringify({ error: 'unknown field `latency`', field: 'condition.field' }), { status: 400 }));
    vi.stubGlobal('fetch', fetchMock);
    const onSaved = vi.fn();
    render(<RuleEditor rule={null} onSaved={onSaved} onCancel={() => {}} />);
    fireEvent.change(screen.getByTestId('rule-name'), { target: { value: 'slow' } });
    fireEvent.change(screen.getByTestId('rule-field'), { target: { value: 'latency' } });
    fireEvent.change(screen.getByTestId('rule-threshold'), { target: { value: '100' } });
    fireEvent.click(screen.getByTestId('rule-save'));
    expect((await screen.findByTestId('error-condition.field')).textContent).toBe('unknown field `latency`');
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe('/api/alerts/rules');
    expect(JSON.parse(init.body)).toMatchObject({ name: 'slow', condition: { kind: 'threshold', field: 'latency' }, threshold: 100 });
    expect(onSaved).not.toHaveBeenCalled();
  });

  it('updates an existing rule with PUT', async () => {
    const fetchMock = vi.fn().mockImplementation(async (_u: string, init: RequestInit) => new Response(init.body as string, { status: 200 }));
    vi.stubGlobal('fetch', fetchMock);
    const onSaved = vi.fn();
    const rule = { id: 'r:1', name: 'n', condition: { kind: 'threshold' as const, field: 'duration', op: 'gt' as const }, threshold: 5, severity: 'low' as const, channels: [{ type: 'dashboard' as const, config: {}, enabled: true }], cooldown: 0 };
    render(<RuleEditor rule={rule} onSaved={onSaved} onCancel={() => {}} />);
    fireEvent.click(screen.getByTestId('rule-save'));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(fetchMock.mock.calls[0]![0]).toBe('/api/alerts/rules/r%3A1');
    expect(fetchMock.mock.calls[0]![1].method).toBe('PUT');
  });
});

describe('AuthPrompt', () => {
  it('appears after a 401 and stores the key for the tab', () => {
    setApiKey(null);
    const onKey = vi.fn();
    render(<AuthPrompt onKey={onKey} />);
    expect(screen.queryByTestId('auth-prompt')).toBeNull();
    act(() => markAuthRequired());
    fireEvent.change(screen.getByTestId('auth-key'), { target: { value: 'k-123' } });
    fireEvent.click(screen.getByTestId('auth-submit'));
    expect(onKey).toHaveBeenCalled();
    expect(sessionStorage.getItem('agent-monitor.apiKey')).toBe('k-123');
    expect(screen.queryByTestId('auth-prompt')).toBeNull();
  });
});
