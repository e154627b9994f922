import { useState } from 'react';
import { deleteRule, listRules } from '../api/client';
import type { AlertRule } from '../api/types';
import { SeverityBadge } from '../components/Badges';
import { RuleEditor } from '../components/RuleEditor';
import { useAsync } from '../lib/hooks';
import { describeCondition } from '../lib/rules';

/** Alert rules from the rules API, with the editor for new and existing ones. */
export function RulesView() {
  const [reload, setReload] = useState(0);
  const [editing, setEditing] = useState<AlertRule | null | 'new'>(null);
  const [error, setError] = useState<string | null>(null);
  const rules = useAsync((s) => listRules(s), [reload]);

  const remove = async (r: AlertRule) => {
    if (!r.id || !window.confirm(`Delete rule "${r.name}"?`)) return;
    try {
      await deleteRule(r.id);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
    setReload((n) => n + 1);
  };

  return (
    <div className="stack">
      {editing ? (
        <RuleEditor
          key={editing === 'new' ? 'new' : editing.id}
          rule={editing === 'new' ? null : editing}
          onCancel={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            setReload((n) => n + 1);
          }}
        />
      ) : null}
      <section className="card">
        <header className="panel-head">
          <h2>Alert rules {rules.data ? <span className="count">{rules.data.length}</span> : null}</h2>
          <button type="button" onClick={() => setEditing('new')} data-testid="rule-new">
            + New rule
          </button>
        </header>
        {rules.error ? <p className="error">{rules.error.message}</p> : null}
        {error ? <p className="error">{error}</p> : null}
        {rules.data && rules.data.length === 0 ? <p className="empty">No rules yet.</p> : null}
        {rules.data?.length ? (
          <table data-testid="rules-table">
            <thead>
              <tr>
                <th>severity</th>
                <th>name</th>
                <th>condition</th>
                <th>channels</th>
                <th>cooldown</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rules.data.map((r) => (
                <tr key={r.id ?? r.name} data-testid="rule-row" data-rule-id={r.id}>
                  <td>
                    <SeverityBadge severity={r.severity} />
                  </td>
                  <td>
                    <strong>{r.name}</strong>
                    {r.enabled === false ? <span className="badge muted">disabled</span> : null}
                    {r.readOnly ? <span className="badge muted" title="from the rules file">read-only</span> : null}
                    <div className="sub mono">{r.id}</div>
                  </td>
                  <td>{describeCondition(r)}</td>
                  <td>
                    {(r.channels ?? [])
                      .filter((c) => c.enabled !== false)
                      .map((c) => c.type)
                      .join(', ')}
                  </td>
                  <td className="mono">{r.cooldown}s</td>
                  <td className="row-actions">
                    {r.readOnly ? null : (
                      <>
                    <button type="button" className="secondary" onClick={() => setEditing(r)}>
                      edit
                    </button>
                    <button type="button" className="danger" onClick={() => void remove(r)}>
                      delete
                    </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
    </div>
  );
}
