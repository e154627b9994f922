import { describe, expect, it } from 'vitest';
import { backoffDelay, LiveStream, SseParser, type ConnectionState, type SseMessage } from './sse';

describe('SseParser', () => {
  it('parses named events with ids, across arbitrary chunk boundaries', () => {
    const text = 'event: metric\nid: 7\ndata: {"a":1}\n\n: keep-alive\n\nevent: alert\nid: 8\ndata: {"b":2}\n\n';
    for (let cut = 1; cut < text.length; cut++) {
      const p = new SseParser();
      const got = [...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut))];
      expect(got).toEqual([
        { event: 'metric', id: '7', data: '{"a":1}' },
        { event: 'alert', id: '8', data: '{"b":2}' },
      ]);
      expect(p.lastEventId).toBe('8');
    }
  });

  it('handles CRLF and CR line endings, even with CRLF split between chunks', () => {
    const p = new SseParser();
    const out = [...p.feed('data: one\r'), ...p.feed('\n\r\n'), ...p.feed('data: two\r\r')];
    expect(out.map((m) => m.data)).toEqual(['one', 'two']);
  });

  it('joins multi-line data, defaults the event name and keeps the last id', () => {
    const p = new SseParser();
    const out = p.feed('id: 3\ndata: a\ndata:b\ndata\n\ndata: next\n\n');
    expect(out).toEqual([
      { event: 'message', id: '3', data: 'a\nb\n' },
      { event: 'message', id: '3', data: 'next' },
    ]);
  });

  it('ignores comments, unknown fields, blocks without data and ids with NUL; reads retry', () => {
    const p = new SseParser();
    expect(p.feed(':hello\nfoo: bar\nevent: x\n\nretry: 1500\nretry: soon\nid: a\0b\ndata: d\n\n')).toEqual([
      { event: 'message', id: '', data: 'd' },
    ]);
    expect(p.retry).toBe(1500);
  });

  it('holds a message until its blank line arrives, and reset drops it', () => {
    const p = new SseParser();
    expect(p.feed('event: metric\ndata: {}\n')).toEqual([]);
    p.reset();
    expect(p.feed('\n')).toEqual([]);
  });
});

describe('backoffDelay', () => {
  it('doubles from 250 ms up to the cap, with at most 20% jitter below', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, 3000, () => 0))).toEqual([250, 500, 1000, 2000, 3000, 3000]);
    expect(backoffDelay(0, 3000, () => 1)).toBe(200);
  });
});

/** A scripted fetch: each call takes the next response; a stream response is driven by
 * `push`/`end`/`fail`. Timers run only when the test says so. */
function harness() {
  const calls: { url: string; headers: Record<string, string> }[] = [];
  type Script = { status: number } | { error: string } | 'stream';
  const script: Script[] = [];
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  const timers: { fn: () => void; ms: number }[] = [];
  const states: ConnectionState[] = [];
  const messages: SseMessage[] = [];
  const enc = new TextEncoder();
  const fakeFetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, headers: init.headers as Record<string, string> });
    const next = script.shift() ?? { error: 'connection refused' };
    if (next === 'stream') {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }
    if ('error' in next) throw new TypeError(next.error);
    return new Response('{"error":"no"}', { status: next.status });
  }) as unknown as typeof fetch;
  const stream = new LiveStream({
    url: () => '/api/metrics/stream',
    headers: () => ({ Authorization: 'Bearer k' }),
    onMessage: (m) => messages.push(m),
    onState: (s) => states.push(s),
    fetch: fakeFetch,
    setTimeout: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimeout: (h) => {
      const i = timers.indexOf(h as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
    random: () => 0,
  });
  const tick = () => new Promise((r) => setTimeout(r, 0));
  return {
    stream,
    calls,
    script,
    states,
    messages,
    timers,
    push: (s: string) => controller!.enqueue(enc.encode(s)),
    end: () => controller!.close(),
    fail: () => controller!.error(new TypeError('network error')),
    /** Runs the pending reconnect timer (not the idle timer). */
    runRetry: () => {
      const i = timers.findIndex((t) => t.ms < 45_000);
      const [t] = timers.splice(i, 1);
      t!.fn();
      return t!.ms;
    },
    settle: async () => {
      for (let i = 0; i < 10; i++) await tick();
    },
  };
}

describe('LiveStream', () => {
  it('opens, delivers messages and sends the API key', async () => {
    const h = harness();
    h.script.push('stream');
    h.stream.start();
    await h.settle();
    expect(h.states).toEqual(['open']);
    expect(h.calls[0]!.headers.Authorization).toBe('Bearer k');
    expect(h.calls[0]!.headers['Last-Event-ID']).toBeUndefined();
    h.push('event: metric\nid: 1\ndata: {"id":"e1"}\n\n');
    await h.settle();
    expect(h.messages).toEqual([{ event: 'metric', id: '1', data: '{"id":"e1"}' }]);
  });

  it('reconnects with backoff after a drop, resuming with Last-Event-ID on the first retry only', async () => {
    const h = harness();
    h.script.push('stream');
    h.stream.start();
    await h.settle();
    h.push('event: metric\nid: 41\ndata: {}\n\n');
    await h.settle();
    h.end(); // the server went away
    await h.settle();
    expect(h.stream.state).toBe('reconnecting');
    // First retry: same server after a blip, most likely: resume.
    h.script.push({ error: 'connection refused' });
    expect(h.runRetry()).toBe(250);
    await h.settle();
    expect(h.calls[1]!.headers['Last-Event-ID']).toBe('41');
    expect(h.stream.state).toBe('reconnecting');
    // The server was down: later retries start fresh (a restarted server counts from 1).
    h.script.push({ status: 503 });
    expect(h.runRetry()).toBe(500);
    await h.settle();
    expect(h.calls[2]!.headers['Last-Event-ID']).toBeUndefined();
    h.script.push('stream');
    expect(h.runRetry()).toBe(1000);
    await h.settle();
    expect(h.stream.state).toBe('open');
    expect(h.states).toEqual(['open', 'reconnecting', 'reconnecting', 'reconnecting', 'open']);
    // A later drop starts the backoff again from the bottom.
    h.fail();
    await h.settle();
    h.script.push('stream');
    expect(h.runRetry()).toBe(250);
    await h.settle();
    expect(h.stream.state).toBe('open');
  });

  it('stops on 401 until restarted with a key', async () => {
    const h = harness();
    h.script.push({ status: 401 });
    h.stream.start();
    await h.settle();
    expect(h.stream.state).toBe('unauthorized');
    expect(h.timers.filter((t) => t.ms < 45_000)).toHaveLength(0);
    h.script.push('stream');
    h.stream.restart();
    await h.settle();
    expect(h.stream.state).toBe('open');
  });

  it('stop() ends the connection and schedules nothing', async () => {
    const h = harness();
    h.script.push('stream');
    h.stream.start();
    await h.settle();
    h.stream.stop();
    await h.settle();
    expect(h.stream.state).toBe('stopped');
    expect(h.timers).toHaveLength(0);
  });

  it('treats a silent connection as dead after the idle timeout', async () => {
    const h = harness();
    h.script.push('stream');
    h.stream.start();
    await h.settle();
    const idle = h.timers.find((t) => t.ms === 45_000)!;
    idle.fn();
    await h.settle();
    expect(h.stream.state).toBe('reconnecting');
  });
});
