import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { authHeaders, markAuthRequired } from '../api/auth';
import type { Alert, MetricEvent } from '../api/types';
import { LiveStream, type ConnectionState, type SseMessage } from './sse';

export type LiveMessage =
  | { kind: 'event'; event: MetricEvent }
  | { kind: 'alert'; alert: Alert }
  /** The stream came back after a drop, or the server said we lagged: what the stream
   * carried meanwhile may be missing, so views refetch. */
  | { kind: 'resync' };

type Listener = (m: LiveMessage) => void;

/**
 * The page's one live connection (SSE on /api/metrics/stream), shared by every view:
 * views subscribe to messages and read the connection state for the banner.
 */
export class LiveHub {
  private listeners = new Set<Listener>();
  private stateListeners = new Set<() => void>();
  private seen = new Set<string>();
  private seenOrder: string[] = [];
  private stream: LiveStream;
  snapshot: { state: ConnectionState; detail: string; everOpen: boolean; since: number } = {
    state: 'connecting',
    detail: '',
    everOpen: false,
    since: Date.now(),
  };

  constructor(url = '/api/metrics/stream') {
    this.stream = new LiveStream({
      url: () => url,
      headers: authHeaders,
      onMessage: (m) => this.dispatch(m),
      onState: (state, detail) => this.handleState(state, detail),
    });
  }

  start(): void {
    this.stream.start();
  }

  /** The stream's state changes (public for the component tests). */
  handleState(state: ConnectionState, detail?: string): void {
    if (state === 'unauthorized') markAuthRequired();
    const resync = state === 'open' && this.snapshot.everOpen;
    this.snapshot = {
      state,
      detail: detail ?? '',
      everOpen: this.snapshot.everOpen || state === 'open',
      since: state === this.snapshot.state ? this.snapshot.since : Date.now(),
    };
    for (const l of [...this.stateListeners]) l();
    if (resync) this.emit({ kind: 'resync' });
  }

  restart(): void {
    this.stream.restart();
  }

  stop(): void {
    this.stream.stop();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribeState = (listener: () => void): (() => void) => {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  };

  getState = () => this.snapshot;

  /** Parses one SSE message; replays after a resume may repeat an event, so events are
   * de-duplicated by id. */
  dispatch(m: SseMessage): void {
    let data: unknown;
    try {
      data = JSON.parse(m.data);
    } catch {
      return;
    }
    if (!data || typeof data !== 'object') return;
    let msg: LiveMessage | null = null;
    if (m.event === 'metric' || m.event === 'event') {
      const e = data as MetricEvent;
      if (e.id) {
        if (this.seen.has(e.id)) return;
        this.seen.add(e.id);
        this.seenOrder.push(e.id);
        if (this.seenOrder.length > 5000) this.seen.delete(this.seenOrder.shift()!);
      }
      msg = { kind: 'event', event: e };
    } else if (m.event === 'alert') {
      msg = { kind: 'alert', alert: data as Alert };
    } else if (m.event === 'lagged') {
      msg = { kind: 'resync' };
    }
    if (msg) this.emit(msg);
  }

  private emit(msg: LiveMessage): void {
    for (const l of [...this.listeners]) l(msg);
  }
}

export const hub = new LiveHub();

export function useConnection() {
  return useSyncExternalStore(hub.subscribeState, hub.getState);
}

/** Calls `handler` for every live message; the latest handler is used without resubscribing. */
export function useLive(handler: (m: LiveMessage) => void): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => hub.subscribe((m) => ref.current(m)), []);
}

/** Bumps a counter at most once per `ms` while live messages matching `accept` arrive
 * (and on every resync): views put it in their fetch dependencies to refresh on new data
 * without a fetch per event. */
export function useLiveTick(ms: number, accept: (m: LiveMessage) => boolean = () => true): number {
  const [tick, setTick] = useState(0);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const acceptRef = useRef(accept);
  acceptRef.current = accept;
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );
  useLive((m) => {
    if ((m.kind !== 'resync' && !acceptRef.current(m)) || pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      setTick((t) => t + 1);
    }, ms);
  });
  return tick;
}

