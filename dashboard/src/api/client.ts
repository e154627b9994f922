import { authHeaders, markAuthRequired } from './auth';
import type {
  AggPoint,
  Aggregation,
  Alert,
  AlertRule,
  AnomalySeries,
  EventFilters,
  MetricEvent,
  QueryAnswer,
  Trend,
} from './types';

/** A non-2xx answer; `field` names the field at fault when the server says so. */
export class ApiError extends Error {
  readonly status: number;
  readonly field: string | null;
  constructor(status: number, message: string, field: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.field = field;
  }
}

export type Params = Record<string, string | number | boolean | null | undefined>;

/** A query string from params, leaving out empty values; keys keep their order. */
export function toQueryString(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
  if (res.status === 401) markAuthRequired();
  const text = await res.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!res.ok) {
    const obj = (body && typeof body === 'object' ? body : {}) as { error?: unknown; field?: unknown };
    const message = typeof obj.error === 'string' ? obj.error : `${res.status} ${res.statusText}`.trim();
    throw new ApiError(res.status, message, typeof obj.field === 'string' ? obj.field : null);
  }
  return body as T;
}

export interface RangeParams {
  start: string;
  end: string;
}

export interface AggregatedQuery extends RangeParams, EventFilters {
  aggregation: Exclude<Aggregation, 'raw'>;
  field?: string;
  groupBy?: string;
  limit?: number;
}

export function queryAggregated(q: AggregatedQuery, signal?: AbortSignal): Promise<QueryAnswer<AggPoint>> {
  return request(`/api/metrics/query${toQueryString({ ...q })}`, { signal });
}

export interface RawQuery extends EventFilters {
  start?: string;
  end?: string;
  limit?: number;
}

/** Raw events, newest first (the server's order). */
export function queryRaw(q: RawQuery, signal?: AbortSignal): Promise<QueryAnswer<MetricEvent>> {
  return request(`/api/metrics/query${toQueryString({ aggregation: 'raw', ...q })}`, { signal });
}

export function fetchAnomalies(
  q: RangeParams & EventFilters & { field: string },
  signal?: AbortSignal,
): Promise<AnomalySeries[]> {
  return request(`/api/analytics/anomalies${toQueryString({ ...q })}`, { signal });
}

export interface TrendQuery extends EventFilters {
  field?: string;
  /** A duration (`1h`) or a number of buckets. */
  window: string;
  aggregation?: Exclude<Aggregation, 'raw'>;
  /** The bucket statistic fitted: avg (default), sum, min, max, count, p50, p95, p99. */
  stat?: string;
}

export function fetchTrend(q: TrendQuery, signal?: AbortSignal): Promise<Trend> {
  return request(`/api/analytics/trend${toQueryString({ ...q })}`, { signal });
}

export const fetchActiveAlerts = (signal?: AbortSignal): Promise<Alert[]> => request('/api/alerts', { signal });
export const fetchAlertHistory = (signal?: AbortSignal): Promise<Alert[]> =>
  request('/api/alerts/history', { signal });

export const listRules = (signal?: AbortSignal): Promise<AlertRule[]> => request('/api/alerts/rules', { signal });
export const createRule = (rule: AlertRule): Promise<AlertRule> =>
  request('/api/alerts/rules', { method: 'POST', body: JSON.stringify(rule) });
export const updateRule = (id: string, rule: AlertRule): Promise<AlertRule> =>
  request(`/api/alerts/rules/${encodeURIComponent(id)}`, { method: 'PUT', body: JSON.stringify(rule) });
export const deleteRule = (id: string): Promise<unknown> =>
  request(`/api/alerts/rules/${encodeURIComponent(id)}`, { method: 'DELETE' });
