// The API key for this tab. Kept in sessionStorage: it survives reloads of the tab but
// not closing it, and other tabs ask for their own.

const STORAGE_KEY = 'agent-monitor.apiKey';

type Listener = () => void;
const listeners = new Set<Listener>();
let required = false;
let version = 0;

function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

export function getApiKey(): string | null {
  return storage()?.getItem(STORAGE_KEY) || null;
}

export function setApiKey(key: string | null): void {
  const s = storage();
  if (key) s?.setItem(STORAGE_KEY, key);
  else s?.removeItem(STORAGE_KEY);
  required = false;
  version += 1;
  emit();
}

/** Called when the server answered 401: the page shows the key prompt. */
export function markAuthRequired(): void {
  if (!required) {
    required = true;
    emit();
  }
}

export function authState(): { required: boolean; version: number; hasKey: boolean } {
  return { required, version, hasKey: getApiKey() !== null };
}

export function onAuthChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(): void {
  for (const l of [...listeners]) l();
}

export function authHeaders(): Record<string, string> {
  const key = getApiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}
