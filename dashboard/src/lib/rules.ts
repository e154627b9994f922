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
  /** Fields of a loaded rule the form does not edit, sent back unchanged. */
  rest: Record<string, unknown>;
}

/** Error messages keyed by the server's field names (`name`, `condition.window`, …). */
export type FormErrors = Record<string, string>;

export const KINDS: ConditionKind[] = ['threshold', 'window', 'errorRatio', 'anomaly', 'absence'];
export const OPS: CompareOp[] = ['gt', 'gte', 'lt', 'lte'];
export const AGGREGATES: WindowAggregate[] = ['avg', 'max', 'p95', 'count', 'rate'];
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
    rest: {},
  };
}

function channelOf(rule: AlertRule, type: Channel['type']): Channel | undefined {
  return rule.channels?.find((c) => c.type === type);
}

export function formFromRule(rule: AlertRule): RuleForm {
  const { id, name, condition, threshold, severity, channels, cooldown, ...rest } = rule;
  const c = condition ?? ({ kind: 'threshold' } as AlertRule['condition']);
  const webhook = channelOf(rule, 'webhook');
  const slack = channelOf(rule, 'slack');
  const email = channelOf(rule, 'email');
  const dash = channelOf(rule, 'dashboard');
  void channels;
  return {
    id: id ?? '',
    name: name ?? '',
    kind: c.kind,
    field: c.field ?? '',
    op: c.op ?? 'gt',
    aggregate: c.aggregate ?? 'avg',
    window: c.window ?? '',
    for: c.for ?? '',
    filters: Object.entries(c.filters ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
    groupBy: (c.groupBy ?? []).join(', '),
    threshold: threshold === undefined || threshold === null ? '' : String(threshold),
    severity: severity ?? 'medium',
    cooldown: cooldown === undefined || cooldown === null ? '' : String(cooldown),
    dashboard: dash ? dash.enabled !== false : false,
    webhookUrl: webhook && webhook.enabled !== false ? String(webhook.config?.url ?? '') : '',
    slackUrl: slack && slack.enabled !== false ? String(slack.config?.webhookUrl ?? slack.config?.url ?? '') : '',
    emailTo: email && email.enabled !== false ? String(email.config?.to ?? '') : '',
    rest,
  };
}

/** Which inputs a condition kind uses. */
export function fieldsFor(kind: ConditionKind): { field: boolean; op: boolean; aggregate: boolean; window: boolean } {
  switch (kind) {
    case 'threshold':
      return { field: true, op: true, aggregate: false, window: false };
    case 'window':
      return { field: true, op: true, aggregate: true, window: true };
    case 'errorRatio':
      return { field: false, op: true, aggregate: false, window: true };
    case 'anomaly':
      return { field: true, op: false, aggregate: false, window: true };
    case 'absence':
      return { field: false, op: false, aggregate: false, window: true };
  }
}

function parsePairs(text: string): { pairs: Record<string, string>; bad: string | null } {
  const pairs: Record<string, string> = {};
  for (const part of text.split(/[,\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0 || eq === t.length - 1) return { pairs, bad: t };
    pairs[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return { pairs, bad: null };
}

const URL_RE = /^https?:\/\/\S+$/;
const EMAIL_RE = /^[^\s@,]+@[^\s@,]+$/;

/**
 * Checks the form and builds the rule JSON. Errors are keyed like the server's 400
 * `field` so both kinds of message show next to the same input.
 */
export function ruleFromForm(form: RuleForm): { rule: AlertRule | null; errors: FormErrors } {
  const errors: FormErrors = {};
  const uses = fieldsFor(form.kind);
  const name = form.name.trim();
  if (!name) errors.name = 'name is required';

  if (form.id && !/^[A-Za-z0-9._:-]+$/.test(form.id)) errors.id = 'id may hold letters, digits and . _ : - only';

  const field = form.field.trim();
  if (uses.field && !field) errors['condition.field'] = 'field is required for this condition';
  if (uses.field && field && !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(field)) {
    errors['condition.field'] = 'field must be a payload field name such as duration';
  }

  const window = form.window.trim();
  if (uses.window && !window) errors['condition.window'] = 'window is required for this condition';
  else if (uses.window && !DURATION.test(window)) errors['condition.window'] = 'window must be a duration such as 30s, 5m or 1h';

  const forDur = form.for.trim();
  if (forDur && !DURATION.test(forDur)) errors['condition.for'] = 'for must be a duration such as 0s or 2m';

  const { pairs: filters, bad } = parsePairs(form.filters);
  if (bad !== null) errors['condition.filters'] = `filter "${bad}" is not key=value`;
  else {
    const unknown = Object.keys(filters).find((k) => !DIMENSIONS.includes(k) && !k.startsWith('tag.'));
    if (unknown) errors['condition.filters'] = `unknown filter "${unknown}" (use ${DIMENSIONS.join(', ')} or tag.KEY)`;
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

  const channels: Channel[] = [];
  if (form.dashboard) channels.push({ type: 'dashboard', config: {}, enabled: true });
  if (form.webhookUrl.trim()) {
    if (!URL_RE.test(form.webhookUrl.trim())) errors.channels = 'webhook URL must start with http:// or https://';
    channels.push({ type: 'webhook', config: { url: form.webhookUrl.trim() }, enabled: true });
  }
  if (form.slackUrl.trim()) {
    if (!URL_RE.test(form.slackUrl.trim())) errors.channels = 'Slack webhook URL must start with https://';
    channels.push({ type: 'slack', config: { webhookUrl: form.slackUrl.trim() }, enabled: true });
  }
  if (form.emailTo.trim()) {
    const to = form.emailTo.split(',').map((s) => s.trim()).filter(Boolean);
    if (!to.every((a) => EMAIL_RE.test(a))) errors.channels = 'e-mail recipients must be addresses, comma separated';
    channels.push({ type: 'email', config: { to }, enabled: true });
  }
  if (channels.length === 0) errors.channels = 'choose at least one channel';

  if (Object.keys(errors).length > 0) return { rule: null, errors };

  const condition: AlertRule['condition'] = { kind: form.kind };
  if (uses.field) condition.field = field;
  if (uses.op) condition.op = form.op;
  if (uses.aggregate) condition.aggregate = form.aggregate;
  if (uses.window) condition.window = window;
  condition.for = forDur || '0s';
  if (Object.keys(filters).length > 0) condition.filters = filters;
  if (groupBy.length > 0) condition.groupBy = groupBy;

  const rule: AlertRule = {
    ...form.rest,
    ...(form.id ? { id: form.id } : {}),
    name,
    condition,
    threshold: thresholdText ? threshold : 0,
    severity: form.severity,
    channels,
    cooldown,
  };
  return { rule, errors };
}

/** "p95(duration) > 1000 over 5m" and the like, for the rules list. */
export function describeCondition(rule: AlertRule): string {
  const c = rule.condition ?? ({ kind: 'threshold' } as AlertRule['condition']);
  const op = c.op ? OP_SYMBOL[c.op] : '>';
  const filters = Object.entries(c.filters ?? {})
    .map(([k, v]) => `${k}=${v}`)
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
