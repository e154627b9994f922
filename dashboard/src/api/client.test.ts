import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { authState, setApiKey } from './auth';
import { ApiError, createRule, queryAggregated, toQueryString } from './client';

describe('toQueryString', () => {
  it('leaves out empty values and keeps order', () => {
    expect(toQueryString({ start: 'a', end: '', field: undefined, groupBy: 'operation', limit: 5 })).toBe('?start=a&groupBy=operation&limit=5');
    expect(toQueryString({})).toBe('');
  });
});

describe('request', () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    setApiKey(null);
  });
  afterEach(() => vi.unstubAllGlobals());

  it('queries with the contract parameters and sends the tab key', async () => {
    setApiKey('secret-key');
    fetchMock.mockResolvedValue(new Response(JSON.stringify({ data: [], metadata: { totalPoints: 0 } }), { status: 200 }));
    await queryAggregated({ start: 's', end: 'e', aggregation: '5m', field: 'duration', groupBy: 'operation', type: 'performance' });
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe('/api/metrics/query?start=s&end=e&aggregation=5m&field=duration&groupBy=operation&type=performance');
    expect(init.headers.Authorization).toBe('Bearer secret-key');
    expect(sessionStorage.getItem('agent-monitor.apiKey')).toBe('secret-key');
  });

  it('turns a 400 body into an ApiError naming the field', async () => {
    fetchMock.mockResolvedValue(new Response(JSON.stringify({ error: 'window must be positive', field: 'condition.window' }), { status: 400 }));
    const err = await createRule({ name: 'x', condition: { kind: 'absence', window: '0s' }, threshold: 0, severity: 'low', channels: [], cooldown: 0 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, message: 'window must be positive', field: 'condition.window' });
    const [, init] = fetchMock.mock.calls[0]!;
    expect(init.method).toBe('POST');
    expect(init.headers['Content-Type']).toBe('application/json');
  });

  it('asks for a key on 401', async () => {
    expect(authState().required).toBe(false);
    fetchMock.mockResolvedValue(new Response(JSON.stringify({ error: 'missing API key' }), { status: 401 }));
    await expect(queryAggregated({ start: 's', end: 'e', aggregation: '1m' })).rejects.toMatchObject({ status: 401 });
    expect(authState().required).toBe(true);
    setApiKey('k2');
    expect(authState()).toMatchObject({ required: false, hasKey: true });
  });
});
