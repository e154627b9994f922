// Server-sent events over fetch rather than EventSource: fetch can send the API key as
// an `Authorization` header and `Last-Event-ID` on our own reconnects, and lets the page
// tell "server down" (reconnect with backoff) from "401" (ask for a key) — EventSource
// reports both as a bare `error` event.

export interface SseMessage {
  event: string;
  data: string;
  id: string;
}

/**
 * An incremental parser for the `text/event-stream` format (HTML Living Standard
 * §9.2.6): feed it chunks as they arrive, split anywhere, and it returns the messages
 * completed by each chunk.
 */
export class SseParser {
  private buffer = '';
  private eventType = '';
  private data: string[] = [];
  private sawData = false;
  private afterCR = false;
  /** The last event ID seen; it persists across messages, as the spec says. */
  lastEventId = '';
  /** The reconnection time the server asked for with `retry:`, if any. */
  retry: number | null = null;

  feed(chunk: string): SseMessage[] {
    // A \r that ended the previous chunk already ended its line; a \n right after it
    // is the second half of that \r\n, not another (blank) line.
    if (this.afterCR && chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
    this.afterCR = false;
    this.buffer += chunk;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      // A line ends at \r\n, \n or \r.
      let end = -1;
      let next = -1;
      for (let i = start; i < this.buffer.length; i++) {
        const c = this.buffer.charCodeAt(i);
        if (c === 10) {
          end = i;
          next = i + 1;
          break;
        }
        if (c === 13) {
          end = i;
          if (i + 1 === this.buffer.length) {
            this.afterCR = true;
            next = i + 1;
          } else {
            next = this.buffer.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
          }
          break;
        }
      }
      if (end < 0) break;
      this.line(this.buffer.slice(start, end), out);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** Forgets a half-received message (the connection it came on is gone). */
  reset(): void {
    this.buffer = '';
    this.afterCR = false;
    this.eventType = '';
    this.data = [];
    this.sawData = false;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.sawData) {
        out.push({ event: this.eventType || 'message', data: this.data.join('\n'), id: this.lastEventId });
      }
      this.eventType = '';
      this.data = [];
      this.sawData = false;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.sawData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }
}

export type ConnectionState =
  /** First attempt, nothing known yet. */
  | 'connecting'
  | 'open'
  /** Lost (or never reached) the server; a retry is scheduled. */
  | 'reconnecting'
  /** The server wants an API key; waiting until one is given. */
  | 'unauthorized'
  | 'stopped';

/** Delay before reconnect attempt `attempt` (0-based): 250 ms doubling to `max`, with
 * up to 20% jitter so many tabs do not come back in lock-step. */
export function backoffDelay(attempt: number, max = 2000, random: () => number = Math.random): number {
  const base = Math.min(max, 250 * 2 ** Math.min(attempt, 16));
  return Math.round(base * (1 - 0.2 * random()));
}

export interface LiveStreamOptions {
  url: () => string;
  headers: () => Record<string, string>;
  onMessage: (message: SseMessage) => void;
  onState: (state: ConnectionState, detail?: string) => void;
  fetch?: typeof fetch;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  maxDelay?: number;
  /** No bytes for this long (keep-alives included) counts as a dead connection. */
  idleTimeout?: number;
  random?: () => number;
}

/**
 * A self-reconnecting SSE connection.
 *
 * After a drop it resumes with `Last-Event-ID` only on the first retry, which reaches
 * the same server after a blip. Once a retry has failed the server was down and has
 * likely restarted; its event ids then start again from 1, and an old id would make it
 * hold back every event up to that number. So later retries start fresh, and the page
 * refetches what it shows when it reconnects (the `onReconnect` of the hub), which
 * covers the gap from the store.
 */
export class LiveStream {
  state: ConnectionState = 'connecting';
  attempt = 0;
  private parser = new SseParser();
  private abort: AbortController | null = null;
  private timer: unknown = null;
  private idleTimer: unknown = null;
  private generation = 0;
  private readonly o: Required<Omit<LiveStreamOptions, 'random'>> & { random: () => number };

  constructor(options: LiveStreamOptions) {
    this.o = {
      fetch: (...a) => globalThis.fetch(...a),
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as number),
      maxDelay: 2000,
      idleTimeout: 45_000,
      random: Math.random,
      ...options,
    };
  }

  get lastEventId(): string {
    return this.parser.lastEventId;
  }

  start(): void {
    this.generation += 1;
    this.clearTimers();
    this.attempt = 0;
    void this.connect(this.generation);
  }

  /** Reconnects now (after a new API key, say), keeping the resume position. */
  restart(): void {
    this.abort?.abort();
    this.setState('connecting');
    this.start();
  }

  stop(): void {
    this.generation += 1;
    this.clearTimers();
    this.abort?.abort();
    this.abort = null;
    this.setState('stopped');
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state;
    this.o.onState(state, detail);
  }

  private clearTimers(): void {
    if (this.timer !== null) this.o.clearTimeout(this.timer);
    if (this.idleTimer !== null) this.o.clearTimeout(this.idleTimer);
    this.timer = null;
    this.idleTimer = null;
  }

  private armIdle(gen: number, abort: AbortController, reader: ReadableStreamDefaultReader<Uint8Array>): void {
    if (this.idleTimer !== null) this.o.clearTimeout(this.idleTimer);
    this.idleTimer = this.o.setTimeout(() => {
      this.idleTimer = null;
      if (gen !== this.generation) return;
      abort.abort();
      void reader.cancel().catch(() => {});
    }, this.o.idleTimeout);
  }

  private async connect(gen: number): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    this.parser.reset();
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...this.o.headers() };
    if (this.parser.lastEventId && this.attempt <= 1) headers['Last-Event-ID'] = this.parser.lastEventId;
    let detail = '';
    try {
      const res = await this.o.fetch(this.o.url(), { headers, signal: abort.signal, cache: 'no-store' });
      if (gen !== this.generation) return;
      if (res.status === 401) {
        this.setState('unauthorized');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
      this.attempt = 0;
      const reader = res.body.getReader();
      this.setState('open');
      this.armIdle(gen, abort, reader);
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (gen !== this.generation) return;
        if (done) break;
        this.armIdle(gen, abort, reader);
        for (const m of this.parser.feed(decoder.decode(value, { stream: true }))) this.o.onMessage(m);
      }
      detail = 'stream ended';
    } catch (e) {
      if (gen !== this.generation) return;
      detail = e instanceof Error ? e.message : String(e);
    }
    if (gen !== this.generation) return;
    this.scheduleReconnect(gen, detail);
  }

  private scheduleReconnect(gen: number, detail: string): void {
    if (this.idleTimer !== null) this.o.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.setState('reconnecting', detail);
    const delay = backoffDelay(this.attempt, this.parser.retry ?? this.o.maxDelay, this.o.random);
    this.attempt += 1;
    this.timer = this.o.setTimeout(() => {
      this.timer = null;
      if (gen === this.generation) void this.connect(gen);
    }, delay);
  }
}
