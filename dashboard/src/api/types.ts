// Wire shapes of the HTTP contract (v1) in DESIGN.md. Only what the dashboard reads is
// typed strictly; everything else is kept as `unknown` so new server fields never break it.

export type Aggregation = 'raw' | '1m' | '5m' | '1h' | '1d';
export type EventType = 'performance' | 'error' | 'coordination' | 'quality';
export type Source = 'claude-cli' | 'dual-agent' | 'system';
export type AgentType = 'manager' | 'worker';
export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** A stored event (a raw query point, or an SSE `metric` message). */
export interface MetricEvent {
  id: string;
  timestamp: string;
  source: Source | string;
  type: EventType | string;
  projectId?: string | null;
  sessionId?: string | null;
  agentType?: AgentType | string | null;
  payload: Record<string, unknown>;
  tags?: Record<string, string> | null;
}

/** One aggregated bucket (of one group). */
export interface AggPoint {
  timestamp: string;
  count: number;
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  group?: Record<string, string | null>;
}

export interface QueryMetadata {
  totalPoints: number;
  aggregation: Aggregation;
  cacheHit: boolean;
  queryTime: number;
}

export interface QueryAnswer<P> {
  data: P[];
  metadata: QueryMetadata;
}

export interface Alert {
  ruleId: string;
  name: string;
  severity: Severity;
  status: 'firing' | 'resolved';
  startsAt: string;
  endsAt: string | null;
  value: number | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Anomaly {
  timestamp: string;
  value: number;
  score: number;
  expected: number;
  severity: Severity | string;
  kind: string;
  method: string;
}

export interface AnomalySeries {
  agentType: string | null;
  operation: string | null;
  points: number;
  anomalies: Anomaly[];
}

export type Direction = 'increasing' | 'decreasing' | 'flat';

export interface Trend {
  points: number;
  slopePerStep: number;
  slopePerHour: number;
  intercept: number;
  rSquared: number;
  direction: Direction;
  forecast: { timestamp: string; value: number; lower: number; upper: number }[];
}

export type ConditionKind = 'threshold' | 'window' | 'errorRatio' | 'anomaly' | 'absence';
export type CompareOp = 'gt' | 'gte' | 'lt' | 'lte';
export type WindowAggregate = 'avg' | 'max' | 'min' | 'sum' | 'p50' | 'p95' | 'p99' | 'count' | 'rate';

export interface Channel {
  type: 'slack' | 'email' | 'webhook' | 'dashboard';
  config: Record<string, unknown>;
  enabled: boolean;
}

export interface AlertRule {
  id?: string;
  name: string;
  condition: {
    kind: ConditionKind;
    field?: string;
    op?: CompareOp;
    aggregate?: WindowAggregate;
    window?: string;
    for?: string;
    filters?: Record<string, string | string[] | { ne?: string; eq?: string; in?: string[] }>;
    groupBy?: string[];
    [extra: string]: unknown;
  };
  threshold: number;
  severity: Severity;
  channels: Channel[];
  cooldown: number;
  enabled?: boolean;
  /** Set by the server for rules from the rules file: not editable over the API. */
  readOnly?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

/** Filters accepted by the query, stream and analytics endpoints. */
export interface EventFilters {
  source?: string;
  type?: string;
  projectId?: string;
  sessionId?: string;
  agentType?: string;
  operation?: string;
}
