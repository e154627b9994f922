import { describe, expect, it } from 'vitest';
import type { AlertRule } from '../api/types';
import { describeCondition, emptyForm, errorKey, formFromRule, newId, ruleFromForm, type RuleForm } from './rules';

const form = (over: Partial<RuleForm>): RuleForm => ({ ...emptyForm(), name: 'slow bash', threshold: '1000', ...over });

describe('ruleFromForm', () => {
  it('builds the DESIGN.md rule JSON for a threshold rule', () => {
    const { rule, errors } = ruleFromForm(form({ filters: 'type=performance, operation=tool:Bash', groupBy: 'sessionId' }));
    expect(errors).toEqual({});
    expect(rule!.id).toMatch(/^slow-bash-[0-9a-z]{6}$/);
    expect(rule).toEqual({
      id: rule!.id,
      name: 'slow bash',
      condition: {
        kind: 'threshold',
        field: 'duration',
        op: 'gt',
        window: '5m',
        for: '0s',
        filters: { type: 'performance', operation: 'tool:Bash' },
        groupBy: ['sessionId'],
      },
      threshold: 1000,
      severity: 'medium',
      channels: [{ type: 'dashboard', config: {}, enabled: true }],
      cooldown: 60,
    });
  });

  it('includes aggregate and window only for kinds that use them', () => {
    const w = ruleFromForm(form({ kind: 'window', aggregate: 'p95', window: '5m' })).rule!;
    expect(w.condition).toMatchObject({ kind: 'window', aggregate: 'p95', window: '5m', field: 'duration', op: 'gt' });
    const a = ruleFromForm(form({ kind: 'absence', window: '10m', threshold: '', filters: '' })).rule!;
    expect(a.condition).toEqual({ kind: 'absence', window: '10m', for: '0s' });
    expect(a.threshold).toBe(0);
  });

  it('names the field at fault, keyed like the server', () => {
    const { rule, errors } = ruleFromForm(
      form({
        name: ' ',
        threshold: 'abc',
        kind: 'window',
        window: '5 minutes',
        for: 'soon',
        filters: 'type',
        groupBy: 'colour',
        cooldown: '-1',
        dashboard: false,
      }),
    );
    expect(rule).toBeNull();
    expect(errors).toEqual({
      name: 'name is required',
      threshold: 'threshold must be a number',
      'condition.window': 'window must be a duration such as 30s, 5m or 1h',
      'condition.for': 'for must be a duration such as 0s or 2m',
      'condition.filters': 'filter "type" is not key=value or key!=value',
      'condition.groupBy': 'cannot group by "colour"',
      cooldown: 'cooldown is whole seconds, 0 or more',
      channels: 'choose at least one channel',
    });
  });

  it('follows the engine: optional window for threshold, no field for count, no type filter for error ratios', () => {
    const t = ruleFromForm(form({ window: '' })).rule!;
    expect(t.condition.window).toBeUndefined();
    expect(ruleFromForm(form({ window: '2m' })).rule!.condition.window).toBe('2m');
    expect(ruleFromForm(form({ window: '0s' })).errors['condition.window']).toBe('window must be longer than 0s');
    const count = ruleFromForm(form({ kind: 'window', aggregate: 'count', window: '5m' })).rule!;
    expect(count.condition.field).toBeUndefined();
    expect(count.condition.aggregate).toBe('count');
    expect(ruleFromForm(form({ kind: 'errorRatio', threshold: '0.1', window: '5m' })).errors['condition.filters']).toMatch(/remove the type filter/);
    expect(ruleFromForm(form({ kind: 'errorRatio', threshold: '0.1', window: '5m', filters: 'projectId=p' })).errors).toEqual({});
  });

  it('checks the error-ratio range, filter names and channel addresses', () => {
    expect(ruleFromForm(form({ kind: 'errorRatio', threshold: '5' })).errors.threshold).toMatch(/between 0 and 1/);
    expect(ruleFromForm(form({ filters: 'colour=red' })).errors['condition.filters']).toMatch(/unknown filter "colour"/);
    expect(ruleFromForm(form({ filters: 'tag.host=h1' })).errors).toEqual({});
    expect(ruleFromForm(form({ webhookUrl: 'ftp://x' })).errors.channels).toMatch(/webhook URL/);
    expect(ruleFromForm(form({ emailTo: 'ops@example.com, nope' })).errors.channels).toMatch(/e-mail/);
    expect(ruleFromForm(form({ field: '' })).errors['condition.field']).toMatch(/required/);
  });

  it('builds webhook, Slack and e-mail channels', () => {
    const r = ruleFromForm(
      form({ dashboard: false, webhookUrl: 'http://127.0.0.1:9/hook', slackUrl: 'https://hooks.slack.com/x', emailTo: 'a@b.c, d@e.f' }),
    ).rule!;
    expect(r.channels).toEqual([
      { type: 'webhook', config: { url: 'http://127.0.0.1:9/hook' }, enabled: true },
      { type: 'slack', config: { url: 'https://hooks.slack.com/x' }, enabled: true },
      { type: 'email', config: { to: ['a@b.c', 'd@e.f'] }, enabled: true },
    ]);
  });

  it('writes any-of and not-equal filters', () => {
    const r = ruleFromForm(form({ filters: 'operation=tool:Bash|tool:Edit, agentType!=manager' })).rule!;
    expect(r.condition.filters).toEqual({ operation: ['tool:Bash', 'tool:Edit'], agentType: { ne: 'manager' } });
  });

  it('asks for a channel and sends enabled only when it was turned off or given', () => {
    expect(ruleFromForm(form({ dashboard: false })).errors.channels).toBe('choose at least one channel');
    expect(ruleFromForm(form({})).rule!.enabled).toBeUndefined();
    expect(ruleFromForm(form({ enabled: false })).rule!.enabled).toBe(false);
  });
});

describe('formFromRule', () => {
  it('round-trips a rule, keeping fields the form does not edit', () => {
    const rule: AlertRule = {
      id: 'r1',
      name: 'p95 high',
      condition: { kind: 'window', field: 'duration', op: 'gte', aggregate: 'p95', window: '5m', for: '1m', filters: { type: 'performance' }, groupBy: ['operation'] },
      threshold: 2000,
      severity: 'high',
      channels: [
        { type: 'dashboard', config: {}, enabled: true },
        { type: 'webhook', config: { url: 'https://example.com/h' }, enabled: true },
      ],
      cooldown: 300,
      labels: { team: 'agents' },
    };
    const back = ruleFromForm(formFromRule(rule));
    expect(back.errors).toEqual({});
    expect(back.rule).toEqual(rule);
  });

  it('keeps condition extras, filter operators, channel settings and disabled channels through an edit', () => {
    const rule: AlertRule = {
      id: 'ratio',
      name: 'errors',
      condition: { kind: 'errorRatio', op: 'gt', window: '10m', for: '0s', minVolume: 20, filters: { operation: ['a', 'b'], agentType: { ne: 'manager' } } },
      threshold: 0.2,
      severity: 'high',
      channels: [
        { type: 'webhook', config: { url: 'https://old.example/h', sendResolved: true, headers: { 'x-k': 'v' } }, enabled: true },
        { type: 'slack', config: { url: 'https://hooks.slack.com/off' }, enabled: false },
      ],
      cooldown: 60,
      enabled: false,
      keepFiringFor: '2m',
    };
    const f = formFromRule(rule);
    expect(f.filters).toBe('operation=a|b, agentType!=manager');
    expect(f.slackUrl).toBe('');
    expect(f.enabled).toBe(false);
    const back = ruleFromForm({ ...f, webhookUrl: 'https://new.example/h' }).rule!;
    expect(back).toEqual({
      ...rule,
      channels: [
        { type: 'webhook', config: { url: 'https://new.example/h', sendResolved: true, headers: { 'x-k': 'v' } }, enabled: true },
        { type: 'slack', config: { url: 'https://hooks.slack.com/off' }, enabled: false },
      ],
    });
    // Emptying the webhook URL drops that channel; the dashboard then has to be chosen.
    expect(ruleFromForm({ ...f, webhookUrl: '' }).errors.channels).toBe('choose at least one channel');
  });
});

describe('newId', () => {
  it('slugs the name with a random suffix', () => {
    expect(newId('Slow  Bash (p95)!', () => 0)).toBe('slow-bash-p95-000000');
    expect(newId('***', () => 0.5)).toMatch(/^rule-[0-9a-z]{6}$/);
  });
});

describe('describeCondition', () => {
  it('reads like the rule', () => {
    const base = { name: 'x', threshold: 1000, severity: 'low' as const, channels: [], cooldown: 0 };
    expect(describeCondition({ ...base, condition: { kind: 'threshold', field: 'duration', op: 'gt', filters: { operation: 'tool:Bash' } } })).toBe(
      'duration > 1000 where operation=tool:Bash',
    );
    expect(describeCondition({ ...base, condition: { kind: 'window', field: 'duration', op: 'gte', aggregate: 'p95', window: '5m', for: '2m', groupBy: ['sessionId'] } })).toBe(
      'p95(duration) ≥ 1000 over 5m by sessionId for 2m',
    );
    expect(describeCondition({ ...base, threshold: 0.1, condition: { kind: 'errorRatio', op: 'gt', window: '10m' } })).toBe('error ratio > 0.1 over 10m');
    expect(describeCondition({ ...base, condition: { kind: 'absence', window: '15m' } })).toBe('no data for 15m');
  });
});

describe('errorKey', () => {
  it('maps server field paths to form inputs', () => {
    expect(errorKey('name')).toBe('name');
    expect(errorKey('condition.window')).toBe('condition.window');
    expect(errorKey('window')).toBe('condition.window');
    expect(errorKey('condition.filters.colour')).toBe('condition.filters');
    expect(errorKey('channels[0].config.url')).toBe('channels');
    expect(errorKey('threshold')).toBe('threshold');
    expect(errorKey('mystery')).toBe('form');
    expect(errorKey(null)).toBe('form');
  });
});
