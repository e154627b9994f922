import { useEffect, useState, useSyncExternalStore } from 'react';
import { authState, onAuthChange } from '../api/auth';

export interface AsyncState<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
}

/** Runs `load` when `deps` change (and when the API key changes), aborting the previous
 * run; keeps the last data while a refresh is in flight so views do not flicker. */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): AsyncState<T> {
  const auth = useAuth();
  const [state, setState] = useState<AsyncState<T>>({ data: undefined, error: null, loading: true });
  useEffect(() => {
    const abort = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(abort.signal).then(
      (data) => {
        if (!abort.signal.aborted) setState({ data, error: null, loading: false });
      },
      (error: unknown) => {
        if (abort.signal.aborted) return;
        setState((s) => ({ data: s.data, error: error instanceof Error ? error : new Error(String(error)), loading: false }));
      },
    );
    return () => abort.abort();
  }, [...deps, auth.version]);
  return state;
}

let authSnapshot = authState();
onAuthChange(() => {
  authSnapshot = authState();
});

export function useAuth() {
  return useSyncExternalStore(onAuthChange, () => authSnapshot);
}

/** A counter that goes up every `ms` milliseconds. */
export function useInterval(ms: number): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const h = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(h);
  }, [ms]);
  return n;
}

/** The current `location.hash` route: `#/sessions/abc?x=1` → { path: ['sessions','abc'], query }. */
export function useRoute(): { path: string[]; query: URLSearchParams } {
  const hash = useSyncExternalStore(
    (cb) => {
      window.addEventListener('hashchange', cb);
      return () => window.removeEventListener('hashchange', cb);
    },
    () => window.location.hash,
  );
  return parseRoute(hash);
}

export function parseRoute(hash: string): { path: string[]; query: URLSearchParams } {
  const h = hash.replace(/^#\/?/, '');
  const q = h.indexOf('?');
  const pathPart = q < 0 ? h : h.slice(0, q);
  return {
    path: pathPart.split('/').filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(q < 0 ? '' : h.slice(q + 1)),
  };
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const h = setTimeout(() => setV(value), ms);
    return () => clearTimeout(h);
  }, [value, ms]);
  return v;
}
