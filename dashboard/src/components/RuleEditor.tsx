import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, createRule, updateRule } from '../api/client';
import type { AlertRule } from '../api/types';
import {
  AGGREGATES,
  emptyForm,
  errorKey,
  fieldsFor,
  formFromRule,
  KINDS,
  OP_SYMBOL,
  OPS,
  ruleFromForm,
  SEVERITIES,
  type FormErrors,
  type RuleForm,
} from '../lib/rules';

/** Creates or edits a rule. Checks it here first, then shows the server's 400 message
 * next to the field the server named. */
export function RuleEditor({
  rule,
  onSaved,
  onCancel,
}: {
  rule: AlertRule | null;
  onSaved: (saved: AlertRule) => void;
  onCancel: () => void;
}) {
  const editing = Boolean(rule?.id);
  const [form, setForm] = useState<RuleForm>(() => (rule ? formFromRule(rule) : emptyForm()));
  const [errors, setErrors] = useState<FormErrors>({});
  const [saving, setSaving] = useState(false);
  const uses = fieldsFor(form.kind, form.aggregate);

  const set =
    <K extends keyof RuleForm>(k: K) =>
    (e: { target: { value: string; checked?: boolean; type?: string } }) => {
      const v = (e.target.type === 'checkbox' ? e.target.checked : e.target.value) as RuleForm[K];
      setForm((f) => ({ ...f, [k]: v }));
    };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const { rule: built, errors: errs } = ruleFromForm(form);
    setErrors(errs);
    if (!built) return;
    setSaving(true);
    try {
      const saved = editing ? await updateRule(rule!.id!, built) : await createRule(built);
      onSaved(saved && typeof saved === 'object' && 'name' in saved ? saved : built);
    } catch (err) {
      if (err instanceof ApiError) setErrors({ [errorKey(err.field)]: err.message });
      else setErrors({ form: err instanceof Error ? err.message : String(err) });
    } finally {
      setSaving(false);
    }
  };

  const row = (label: string, key: string, input: ReactNode, help?: string) => (
    <label className={`field ${errors[key] ? 'has-error' : ''}`} data-field={key}>
      <span className="field-label">{label}</span>
      {input}
      {errors[key] ? (
        <span className="field-error" role="alert" data-testid={`error-${key}`}>
          {errors[key]}
        </span>
      ) : help ? (
        <span className="field-help">{help}</span>
      ) : null}
    </label>
  );

  return (
    <form className="card rule-editor" onSubmit={submit} data-testid="rule-editor" noValidate>
      <h2>{editing ? `Edit rule ${rule!.id}` : 'New rule'}</h2>
      {errors.form ? (
        <p className="error" role="alert" data-testid="error-form">
          {errors.form}
        </p>
      ) : null}
      <div className="grid">
        {row('Name', 'name', <input value={form.name} onChange={set('name')} data-testid="rule-name" />)}
        {row(
          'Id',
          'id',
          <input value={form.id} onChange={set('id')} disabled={editing} placeholder="made from the name" />,
        )}
        {row(
          'Condition',
          'condition.kind',
          <select value={form.kind} onChange={set('kind')} data-testid="rule-kind">
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>,
        )}
        {uses.aggregate
          ? row(
              'Aggregate',
              'condition.aggregate',
              <select value={form.aggregate} onChange={set('aggregate')}>
                {AGGREGATES.map((k) => (
                  <option key={k}>{k}</option>
                ))}
              </select>,
            )
          : null}
        {uses.field
          ? row('Field', 'condition.field', <input value={form.field} onChange={set('field')} data-testid="rule-field" />, 'payload field, e.g. duration')
          : null}
        {uses.op
          ? row(
              'Comparison',
              'condition.op',
              <select value={form.op} onChange={set('op')}>
                {OPS.map((k) => (
                  <option key={k} value={k}>
                    {OP_SYMBOL[k]} ({k})
                  </option>
                ))}
              </select>,
            )
          : null}
        {row(
          'Threshold',
          'threshold',
          <input inputMode="decimal" value={form.threshold} onChange={set('threshold')} data-testid="rule-threshold" />,
          form.kind === 'errorRatio' ? 'ratio 0–1' : form.kind === 'anomaly' ? 'score' : undefined,
        )}
        {uses.window
          ? row(
              'Window',
              'condition.window',
              <input value={form.window} onChange={set('window')} data-testid="rule-window" />,
              uses.window === 'optional' ? 'how long a breach counts; default 5m' : 'e.g. 5m',
            )
          : null}
        {row('For', 'condition.for', <input value={form.for} onChange={set('for')} />, 'how long it must hold, e.g. 0s')}
        {row(
          'Filters',
          'condition.filters',
          <input value={form.filters} onChange={set('filters')} data-testid="rule-filters" />,
          'key=value, key=a|b, key!=value; comma separated',
        )}
        {row('Group by', 'condition.groupBy', <input value={form.groupBy} onChange={set('groupBy')} />, 'e.g. sessionId')}
        {row(
          'Severity',
          'severity',
          <select value={form.severity} onChange={set('severity')} data-testid="rule-severity">
            {SEVERITIES.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>,
        )}
        {row('Cooldown (s)', 'cooldown', <input inputMode="numeric" value={form.cooldown} onChange={set('cooldown')} />)}
      </div>
      <label className="check">
        <input type="checkbox" checked={form.enabled} onChange={set('enabled')} data-testid="rule-enabled" /> enabled (a disabled
        rule is kept but not evaluated)
      </label>
      <fieldset className={`channels ${errors.channels ? 'has-error' : ''}`}>
        <legend>Channels</legend>
        <label className="check">
          <input type="checkbox" checked={form.dashboard} onChange={set('dashboard')} /> dashboard
        </label>
        <label>
          webhook URL <input value={form.webhookUrl} onChange={set('webhookUrl')} placeholder="https://…" />
        </label>
        <label>
          Slack webhook <input value={form.slackUrl} onChange={set('slackUrl')} placeholder="https://hooks.slack.com/…" />
        </label>
        <label>
          e-mail to <input value={form.emailTo} onChange={set('emailTo')} placeholder="ops@example.com" />
        </label>
        {errors.channels ? (
          <span className="field-error" role="alert" data-testid="error-channels">
            {errors.channels}
          </span>
        ) : null}
      </fieldset>
      <div className="actions">
        <button type="submit" disabled={saving} data-testid="rule-save">
          {saving ? 'Saving…' : editing ? 'Save' : 'Create'}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
