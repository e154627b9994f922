import type { AlertRule, Channel, CompareOp, ConditionKind, Severity, WindowAggregate } from '../api/types';

/** The rule editor's state: strings as typed, so half-typed numbers survive re-renders. */
export interface RuleForm {
  id: string;
  name: string;
  kind: ConditionKind;
  field: string;
  op: CompareOp;
  aggregate: WindowAggregate;
  window: string;
  for: string;
  /** `key=value` pairs, comma or newline separated: `type=performance, operation=tool:Bash`. */
  filters: string;
  /** Comma-separated dimensions. */
  groupBy: string;
  threshold: string;
  severity: Severity;
  cooldown: string;
  dashboard: boolean;
  webhookUrl: string;
  slackUrl: string;
  emailTo: string;
  enabled: boolean;
  /** Fields of a loaded rule the form does not edit, sent back unchanged. */
  rest: Record<string, unknown>;
  /** Condition fields the form does not edit (minVolume, detector, …), kept likewise. */
  conditionRest: Record<string, unknown>;
  /** The loaded rule's channels: their other settings (sendResolved, headers, …) and any
   * disabled channels survive an edit. */
  channels: Channel[];
}

/** Error messages keyed by the server's field names (`name`, `condition.window`, …). */
export type FormErrors = Record<string, string>;

export const KINDS: ConditionKind[] = ['threshold', 'window', 'errorRatio', 'anomaly', 'absence'];
export const OPS: CompareOp[] = ['gt', 'gte', 'lt', 'lte'];
export const AGGREGATES: WindowAggregate[] = ['avg', 'max', 'min', 'sum', 'p50', 'p95', 'p99', 'count', 'rate'];
export const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];
export const DIMENSIONS = ['source', 'type', 'projectId', 'sessionId', 'agentType', 'operation'];
export const OP_SYMBOL: Record<CompareOp, string> = { gt: '>', gte: '≥', lt: '<', lte: '≤' };

const DURATION = /^(\d+(ms|s|m|h|d))+$/;

export function emptyForm(): RuleForm {
  return {
    id: '',
    name: '',
    kind: 'threshold',
    field: 'duration',
    op: 'gt',
    aggregate: 'avg',
    window: '5m',
    for: '0s',
    filters: 'type=performance',
    groupBy: '',
    threshold: '',
    severity: 'medium',
    cooldown: '60',
    dashboard: true,
    webhookUrl: '',
    slackUrl: '',
    emailTo: '',
    enabled: true,
    rest: {},
    conditionRest: {},
    channels: [],
  };
}

function enabledChannel(rule: AlertRule, type: Channel['type']): Channel | undefined {
  return rule.channels?.find((c) => c.type === type && c.enabled !== false);
}

/** A filter value as the form writes it: `v`, `a|b` (any of), `!=v` (not equal). */
function filterText(key: string, value: unknown): string {
  if (typeof value === 'string') return `${key}=${value}`;
  if (Array.isArray(value)) return `${key}=${value.join('|')}`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.ne === 'string') return `${key}!=${o.ne}`;
    if (typeof o.eq === 'string') return `${key}=${o.eq}`;
    if (Array.isArray(o.in)) return `${key}=${o.in.join('|')}`;
  }
  return `${key}=${String(value)}`;
}

export function formFromRule(rule: AlertRule): RuleForm {
  const { id, name, condition, threshold, severity, channels, cooldown, enabled, ...rest } = rule;
  const c = condition ?? ({ kind: 'threshold' } as AlertRule['condition']);
  const { kind, field, op, aggregate, window, for: forDur, filters, groupBy, ...conditionRest } = c;
  const webhook = enabledChannel(rule, 'webhook');
  const slack = enabledChannel(rule, 'slack');
  const email = enabledChannel(rule, 'email');
  const to = email?.config?.to;
  return {
    id: id ?? '',
    name: name ?? '',
    kind,
    field: field ?? '',
    op: op ?? 'gt',
    aggregate: aggregate ?? 'avg',
    window: window ?? '',
    for: forDur ?? '',
    filters: Object.entries(filters ?? {})
      .map(([k, v]) => filterText(k, v))
      .join(', '),
    groupBy: (groupBy ?? []).join(', '),
    threshold: threshold === undefined || threshold === null ? '' : String(threshold),
    severity: severity ?? 'medium',
    cooldown: cooldown === undefined || cooldown === null ? '' : String(cooldown),
    dashboard: Boolean(enabledChannel(rule, 'dashboard')),
    webhookUrl: String(webhook?.config?.url ?? ''),
    slackUrl: String(slack?.config?.url ?? ''),
    emailTo: Array.isArray(to) ? to.join(', ') : String(to ?? ''),
    enabled: enabled !== false,
    rest,
    conditionRest,
    channels: channels ?? [],
  };
}

/** Which inputs a condition uses; `window` is optional for threshold and anomaly
 * conditions (how long a breaching event keeps the condition true; the server's default
 * is 5m). A count or rate window aggregate counts events, so it takes no field. */
export function fieldsFor(
  kind: ConditionKind,
  aggregate: WindowAggregate = 'avg',
): { field: boolean; op: boolean; aggregate: boolean; window: 'required' | 'optional' | false } {
  switch (kind) {
    case 'threshold':
      return { field: true, op: true, aggregate: false, window: 'optional' };
    case 'window':
      return { field: aggregate !== 'count' && aggregate !== 'rate', op: true, aggregate: true, window: 'required' };
    case 'errorRatio':
      return { field: false, op: true, aggregate: false, window: 'required' };
    case 'anomaly':
      return { field: true, op: false, aggregate: false, window: 'optional' };
    case 'absence':
      return { field: false, op: false, aggregate: false, window: 'required' };
  }
}

type FilterValue = string | string[] | { ne: string };

/** Parses `key=value` (`a|b` for any of) and `key!=value` pairs, comma or newline separated. */
export function parseFilters(text: string): { filters: Record<string, FilterValue>; bad: string | null } {
  const filters: Record<string, FilterValue> = {};
  for (const part of text.split(/[,\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const m = /^([^=!\s]+)\s*(!=|=)\s*(.+)$/.exec(t);
    if (!m) return { filters, bad: t };
    const [, key, op, raw] = m as unknown as [string, string, string, string];
    const value = raw.trim();
    if (op === '!=') filters[key] = { ne: value };
    else if (value.includes('|')) filters[key] = value.split('|').map((v) => v.trim()).filter(Boolean);
    else filters[key] = value;
  }
  return { filters, bad: null };
}

const URL_RE = /^https?:\/\/\S+$/;
const EMAIL_RE = /^[^\s@,]+@[^\s@,]+$/;

/**
 * Checks the form and builds the rule JSON. Errors are keyed like the server's 400
 * `field` so both kinds of message show next to the same input.
 */
export function ruleFromForm(form: RuleForm): { rule: AlertRule | null; errors: FormErrors } {
  const errors: FormErrors = {};
  const uses = fieldsFor(form.kind, form.aggregate);
  const name = form.name.trim();
  if (!name) errors.name = 'name is required';

  if (form.id && !/^[A-Za-z0-9._:-]+$/.test(form.id)) errors.id = 'id may hold letters, digits and . _ : - only';

  const field = form.field.trim();
  if (uses.field && !field) errors['condition.field'] = 'field is required for this condition';
  if (uses.field && field && !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(field)) {
    errors['condition.field'] = 'field must be a payload field name such as duration';
  }

  const window = form.window.trim();
  if (uses.window === 'required' && !window) errors['condition.window'] = 'window is required for this condition';
  else if (uses.window && window && !DURATION.test(window)) {
    errors['condition.window'] = 'window must be a duration such as 30s, 5m or 1h';
  } else if (uses.window && window && /^(0+(ms|s|m|h|d))+$/.test(window)) errors['condition.window'] = 'window must be longer than 0s';

  const forDur = form.for.trim();
  if (forDur && !DURATION.test(forDur)) errors['condition.for'] = 'for must be a duration such as 0s or 2m';

  const { filters, bad } = parseFilters(form.filters);
  if (bad !== null) errors['condition.filters'] = `filter "${bad}" is not key=value or key!=value`;
  else {
    const unknown = Object.keys(filters).find((k) => !DIMENSIONS.includes(k) && !k.startsWith('tag.'));
    if (unknown) errors['condition.filters'] = `unknown filter "${unknown}" (use ${DIMENSIONS.join(', ')} or tag.KEY)`;
    else if (form.kind === 'errorRatio' && 'type' in filters) {
      errors['condition.filters'] = 'an error ratio counts error and performance events itself; remove the type filter';
    }
  }

  const groupBy = form.groupBy
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const badDim = groupBy.find((d) => !DIMENSIONS.includes(d) && !d.startsWith('tag.'));
  if (badDim) errors['condition.groupBy'] = `cannot group by "${badDim}"`;

  const thresholdText = form.threshold.trim();
  const threshold = Number(thresholdText);
  if (form.kind === 'absence' && !thresholdText) {
    // An absence rule has no value to compare; the server takes 0.
  } else if (!thresholdText || !Number.isFinite(threshold)) errors.threshold = 'threshold must be a number';
  else if (form.kind === 'errorRatio' && (threshold < 0 || threshold > 1)) {
    errors.threshold = 'an error ratio threshold is between 0 and 1';
  }

  const cooldownText = form.cooldown.trim();
  const cooldown = cooldownText === '' ? 0 : Number(cooldownText);
  if (!Number.isInteger(cooldown) || cooldown < 0) errors.cooldown = 'cooldown is whole seconds, 0 or more';

  const wanted: Partial<Record<Channel['type'], Record<string, unknown>>> = {};
  if (form.dashboard) wanted.dashboard = {};
  const webhookUrl = form.webhookUrl.trim();
  if (webhookUrl) {
    if (!URL_RE.test(webhookUrl)) errors.channels = 'webhook URL must start with http:// or https://';
    wanted.webhook = { url: webhookUrl };
  }
  const slackUrl = form.slackUrl.trim();
  if (slackUrl) {
    if (!URL_RE.test(slackUrl)) errors.channels = 'Slack webhook URL must start with https://';
    wanted.slack = { url: slackUrl };
  }
  if (form.emailTo.trim()) {
    const to = form.emailTo
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (!to.every((a) => EMAIL_RE.test(a))) errors.channels = 'e-mail recipients must be addresses, comma separated';
    wanted.email = { to };
  }
  const channels = mergeChannels(form.channels, wanted);
  if (!channels.some((c) => c.enabled)) errors.channels = 'choose at least one channel';

  if (Object.keys(errors).length > 0) return { rule: null, errors };

  const condition: AlertRule['condition'] = { ...form.conditionRest, kind: form.kind };
  if (uses.field) condition.field = field;
  if (uses.op) condition.op = form.op;
  if (uses.aggregate) condition.aggregate = form.aggregate;
  if (uses.window && window) condition.window = window;
  condition.for = forDur || '0s';
  if (Object.keys(filters).length > 0) condition.filters = filters;
  if (groupBy.length > 0) condition.groupBy = groupBy;

  const rule: AlertRule = {
    ...form.rest,
    id: form.id || newId(name),
    name,
    condition,
    threshold: thresholdText ? threshold : 0,
    severity: form.severity,
    channels,
    cooldown,
  };
  if (!form.enabled || 'enabled' in form.rest) rule.enabled = form.enabled;
  return { rule, errors };
}

const ORDER: Channel['type'][] = ['dashboard', 'webhook', 'slack', 'email'];

/**
 * The rule's channels after the form: the first channel of each type the form fills in
 * gets the form's address on top of its other settings; one the form leaves empty is
 * dropped if it was enabled (that is how it is turned off) and kept if it was disabled.
 * Further channels of the same type, which the form does not show, are kept as they were.
 */
export function mergeChannels(original: Channel[], wanted: Partial<Record<Channel['type'], Record<string, unknown>>>): Channel[] {
  const out: Channel[] = [];
  const used = new Set<Channel['type']>();
  for (const c of original) {
    const w = wanted[c.type];
    if (!used.has(c.type) && c.enabled !== false) {
      used.add(c.type);
      if (w) out.push({ ...c, config: { ...(c.config ?? {}), ...w }, enabled: true });
      continue;
    }
    out.push(c);
  }
  for (const type of ORDER) {
    const w = wanted[type];
    if (w && !used.has(type)) out.push({ type, config: w, enabled: true });
  }
  return out;
}

/** An id for a new rule: a slug of its name and a random suffix ("slow-bash-k3x9q2"). */
export function newId(name: string, random: () => number = Math.random): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  const suffix = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0');
  return slug ? `${slug}-${suffix}` : `rule-${suffix}`;
}

/** "p95(duration) > 1000 over 5m" and the like, for the rules list. */
export function describeCondition(rule: AlertRule): string {
  const c = rule.condition ?? ({ kind: 'threshold' } as AlertRule['condition']);
  const op = c.op ? OP_SYMBOL[c.op] : '>';
  const filters = Object.entries(c.filters ?? {})
    .map(([k, v]) => filterText(k, v))
    .join(', ');
  const where = filters ? ` where ${filters}` : '';
  const by = c.groupBy?.length ? ` by ${c.groupBy.join(', ')}` : '';
  const forPart = c.for && c.for !== '0s' ? ` for ${c.for}` : '';
  let core: string;
  switch (c.kind) {
    case 'threshold':
      core = `${c.field ?? '?'} ${op} ${rule.threshold}`;
      break;
    case 'window':
      core = `${c.aggregate ?? 'avg'}(${c.aggregate === 'count' || c.aggregate === 'rate' ? 'events' : (c.field ?? '?')}) ${op} ${rule.threshold} over ${c.window ?? '?'}`;
      break;
    case 'errorRatio':
      core = `error ratio ${op} ${rule.threshold} over ${c.window ?? '?'}`;
      break;
    case 'anomaly':
      core = `anomaly in ${c.field ?? '?'} (score ≥ ${rule.threshold}) over ${c.window ?? '?'}`;
      break;
    case 'absence':
      core = `no data for ${c.window ?? '?'}`;
      break;
    default:
      core = String(c.kind);
  }
  return `${core}${where}${by}${forPart}`;
}

/** Maps a server error's field to the form input it belongs to: `condition.filters.type`
 * → `condition.filters`, `channels[0].config.url` → `channels`. Unknown → `form`. */
export function errorKey(field: string | null | undefined): string {
  if (!field) return 'form';
  const f = field.replace(/^rule\./, '');
  if (f.startsWith('channels')) return 'channels';
  const known = [
    'id',
    'name',
    'threshold',
    'severity',
    'cooldown',
    'condition.kind',
    'condition.field',
    'condition.op',
    'condition.aggregate',
    'condition.window',
    'condition.for',
    'condition.filters',
    'condition.groupBy',
  ];
  const hit = known.find((k) => f === k || f.startsWith(`${k}.`) || f.startsWith(`${k}[`));
  if (hit) return hit;
  const bare = known.find((k) => k === `condition.${f}`);
  return bare ?? 'form';
}
