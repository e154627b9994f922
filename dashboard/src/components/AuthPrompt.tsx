import { useState, type FormEvent } from 'react';
import { getApiKey, setApiKey } from '../api/auth';
import { useAuth } from '../lib/hooks';

/** Shown when the server answered 401: asks for an API key and keeps it for this tab. */
export function AuthPrompt({ onKey }: { onKey: () => void }) {
  const auth = useAuth();
  const [key, setKey] = useState('');
  if (!auth.required) return null;
  const hadKey = getApiKey() !== null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!key.trim()) return;
    setApiKey(key.trim());
    setKey('');
    onKey();
  };
  return (
    <div className="modal-backdrop">
      <form className="modal card" onSubmit={submit} data-testid="auth-prompt">
        <h2>API key required</h2>
        <p>
          This server needs an API key. It is kept for this browser tab only (session storage).
        </p>
        {hadKey ? <p className="error">The key you gave was not accepted.</p> : null}
        <input
          type="password"
          autoFocus
          aria-label="API key"
          placeholder="API key"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          data-testid="auth-key"
        />
        <button type="submit" data-testid="auth-submit">
          Use key
        </button>
      </form>
    </div>
  );
}
