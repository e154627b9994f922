// End-to-end tests of the dashboard in real headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core) against the real monitor-server binary on loopback.
//
// Run with: npm run e2e   (after `cargo build -p monitor-server`; scripts/test-dashboard.sh
// does both). MONITOR_SERVER_BIN overrides the binary, CHROMIUM_PATH the browser.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  api,
  configWithKey,
  launchBrowser,
  perfEvent,
  postEvents,
  recordFigure,
  repoDir,
  resultsDir,
  sleep,
  startServer,
  uid,
} from './harness.mjs';

const LIVE_BUDGET_MS = 1000;

let server;
let browser;

before(async () => {
  rmSync(join(resultsDir, 'figures.json'), { force: true });
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh page; console errors and failed requests are echoed to help debugging. */
async function openPage(hash = '') {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(`${server.url}/${hash}`);
  return page;
}

async function waitLive(page) {
  await page.waitForSelector('[data-testid=connection-state][data-state=open]', { timeout: 10_000 });
}

describe('dashboard', { concurrency: false }, () => {
  test('first load: index and bundle served from the binary, overview filled in under 1 s', async () => {
    // Some data so the cards have numbers to show.
    await postEvents(server.url, [perfEvent({ operation: 'tool:Read', duration: 40 }), perfEvent({ operation: 'tool:Bash', duration: 900 })]);
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    const html = await index.text();
    const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    assert.ok(asset, 'index.html references the bundle with an absolute /assets path');
    const js = await fetch(`${server.url}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    // A deep link falls back to index.html (SPA fallback).
    assert.equal((await fetch(`${server.url}/some/deep/link`)).status, 200);

    // Three cold loads (a new page each time, so no in-memory state carries over); the
    // median is reported and held to the budget, since the machine is shared.
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const page = await browser.newPage();
      const t0 = Date.now();
      await page.goto(`${server.url}/`);
      await page.waitForFunction(() => {
        const v = document.querySelector('[data-testid=card-event-rate-value]')?.textContent;
        return v && v !== '—';
      });
      const filled = Date.now() - t0;
      const nav = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { domContentLoaded: Math.round(n.domContentLoadedEventEnd), load: Math.round(n.loadEventEnd) };
      });
      runs.push({ cardsFilled: filled, ...nav });
      await page.close();
    }
    const median = [...runs].sort((a, b) => a.cardsFilled - b.cardsFilled)[1];
    recordFigure('firstLoadMs', { median: median.cardsFilled, runs });
    assert.ok(median.cardsFilled < 1000, `overview filled in ${median.cardsFilled} ms (median of 3; budget 1000 ms)`);
  });

  test('events posted over HTTP appear in the live feed within a second, without reload', async () => {
    const page = await openPage('#/events');
    await waitLive(page);
    const op = uid('tool:Live');
    const t0 = Date.now();
    await postEvents(server.url, perfEvent({ operation: op, duration: 123 }));
    await page.waitForSelector(`[data-testid=feed-row] >> text=${op}`, { timeout: LIVE_BUDGET_MS });
    const latency = Date.now() - t0;
    recordFigure('liveFeedLatencyMs', latency);
    assert.ok(latency < LIVE_BUDGET_MS, `event shown after ${latency} ms`);

    // Pause holds new events back; resume shows them.
    await page.click('[data-testid=feed-pause]');
    const held = uid('tool:Held');
    await postEvents(server.url, perfEvent({ operation: held, duration: 5 }));
    await page.waitForSelector('[data-testid=feed-resume] >> text=1 new');
    assert.equal(await page.locator(`text=${held}`).count(), 0);
    await page.click('[data-testid=feed-resume]');
    await page.waitForSelector(`[data-testid=feed-row] >> text=${held}`);

    // The type filter.
    await page.selectOption('select[aria-label=type]', 'error');
    assert.equal(await page.locator(`[data-testid=feed-row] >> text=${op}`).count(), 0);
    await page.close();
  });

  test('the chart switches aggregation and draws one line per operation', async () => {
    const now = Date.now();
    const events = [];
    for (let i = 0; i < 30; i++) {
      const timestamp = new Date(now - i * 60_000).toISOString();
      events.push(perfEvent({ operation: 'e2e:alpha', duration: 100 + i, timestamp }));
      events.push(perfEvent({ operation: 'e2e:beta', duration: 300 + i, timestamp }));
    }
    await postEvents(server.url, events);
    const page = await openPage();
    await page.waitForSelector('[data-testid=timeseries] .u-legend >> text=e2e:alpha');
    await page.waitForSelector('[data-testid=timeseries] .u-legend >> text=e2e:beta');
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.url().includes('/api/metrics/query') && r.url().includes('aggregation=5m') && r.url().includes('groupBy=operation')),
      page.click('[data-testid=agg-5m]'),
    ]);
    assert.match(req.url(), /field=duration/);
    await page.waitForSelector('[data-testid=chart-aggregation] >> text=aggregation 5m');
    assert.equal(await page.getAttribute('[data-testid=agg-5m]', 'aria-pressed'), 'true');
    await Promise.all([
      page.waitForRequest((r) => r.url().includes('aggregation=1h')),
      page.click('[data-testid=agg-1h]'),
    ]);
    await page.waitForSelector('[data-testid=chart-aggregation] >> text=aggregation 1h');
    // The time range picker: 24 h asks for 5-minute buckets over a day.
    const [day] = await Promise.all([
      page.waitForRequest((r) => r.url().includes('/api/metrics/query') && r.url().includes('aggregation=5m')),
      page.click('[data-testid=range-24h]'),
    ]);
    const u = new URL(day.url());
    const span = Date.parse(u.searchParams.get('end')) - Date.parse(u.searchParams.get('start'));
    assert.equal(span, 24 * 3_600_000);
    await page.close();
  });

  test('an alert fires: rule created over the API, triggering event posted, alert shown', async () => {
    const op = uid('tool:Slow');
    const created = await api(server.url, '/api/alerts/rules', {
      method: 'POST',
      body: {
        id: uid('e2e-slow'),
        name: `slow ${op}`,
        condition: { kind: 'threshold', field: 'duration', op: 'gt', for: '0s', filters: { type: 'performance', operation: op } },
        threshold: 1000,
        severity: 'critical',
        channels: [{ type: 'dashboard', config: {}, enabled: true }],
        cooldown: 60,
      },
    });
    assert.ok(created.status === 200 || created.status === 201, `rule create answered ${created.status} ${JSON.stringify(created.body)}`);
    const ruleId = created.body.id;
    assert.ok(ruleId, 'the answer is the stored rule');

    const page = await openPage('#/alerts');
    await waitLive(page);
    await postEvents(server.url, perfEvent({ operation: op, duration: 5000 }));
    const row = page.locator(`[data-testid=active-alerts] [data-testid=alert-row][data-rule-id="${ruleId}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.equal(await row.getAttribute('data-status'), 'firing');
    assert.match(await row.textContent(), /critical/);
    await page.locator(`[data-testid=alert-history] [data-rule-id="${ruleId}"]`).first().waitFor();

    // The overview's card counts it.
    await page.click('[data-testid=tab-overview]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=card-alerts-value]')?.textContent) >= 1);
    assert.equal(await page.getAttribute('[data-testid=card-alerts]', 'data-status'), 'critical');

    // The rules view lists it.
    await page.click('[data-testid=tab-rules]');
    await page.waitForSelector(`[data-testid=rule-row][data-rule-id="${ruleId}"]`);
    await page.close();
  });

  test('the rule editor creates a rule and shows validation next to the field', async () => {
    const page = await openPage('#/rules');
    await page.click('[data-testid=rule-new]');
    // The server's 400 names the field; the page shows its message next to that field.
    await page.fill('[data-testid=rule-name]', 'x'.repeat(201));
    await page.fill('[data-testid=rule-threshold]', '1000');
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/alerts/rules') && r.request().method() === 'POST'),
      page.click('[data-testid=rule-save]'),
    ]);
    assert.equal(answer.status(), 400);
    const serverError = await answer.json();
    assert.equal(serverError.field, 'name');
    assert.equal(await page.textContent('[data-testid=error-name]'), serverError.error);
    const name = uid('editor rule');
    await page.fill('[data-testid=rule-name]', name);
    await page.selectOption('[data-testid=rule-kind]', 'window');
    await page.fill('[data-testid=rule-window]', 'five minutes');
    await page.fill('[data-testid=rule-threshold]', '2500');
    await page.click('[data-testid=rule-save]');
    await page.waitForSelector('[data-testid="error-condition.window"]');
    await page.fill('[data-testid=rule-window]', '5m');
    await page.click('[data-testid=rule-save]');
    await page.waitForSelector(`[data-testid=rule-row] >> text=${name}`);
    const rules = await api(server.url, '/api/alerts/rules');
    const saved = rules.body.find((r) => r.name === name);
    assert.ok(saved, 'the rule is stored on the server');
    assert.equal(saved.condition.kind, 'window');
    assert.equal(saved.condition.window, '5m');
    assert.equal(saved.threshold, 2500);

    // Edit it: PUT keeps the id, the new threshold is stored.
    const row = `[data-testid=rule-row][data-rule-id="${saved.id}"]`;
    await page.click(`${row} button:has-text("edit")`);
    await page.fill('[data-testid=rule-threshold]', '3000');
    await page.click('[data-testid=rule-save]');
    await page.waitForSelector(`${row} >> text=3000`);
    assert.equal((await api(server.url, `/api/alerts/rules/${encodeURIComponent(saved.id)}`)).body.threshold, 3000);

    // Delete it (after the confirmation dialog).
    page.once('dialog', (d) => void d.accept());
    await page.click(`${row} button:has-text("delete")`);
    await page.waitForSelector(row, { state: 'detached' });
    assert.equal((await api(server.url, `/api/alerts/rules/${encodeURIComponent(saved.id)}`)).status, 404);
    await page.close();
  });

  test('a session view shows operations, errors and manager → worker coordination', async () => {
    const sessionId = uid('sess-view');
    const base = Date.now() - 60_000;
    const at = (s) => new Date(base + s * 1000).toISOString();
    await postEvents(server.url, [
      { ...perfEvent({ operation: 'plan', duration: 800, sessionId, agentType: 'manager', timestamp: at(0), source: 'dual-agent' }) },
      { source: 'dual-agent', type: 'coordination', sessionId, projectId: 'proj-e2e', agentType: 'manager', timestamp: at(2), payload: { managerId: 'm-1', workerId: 'w-1', phase: 'assign', taskId: 'task-1', coordinationScore: 0.92, latencyMs: 35 } },
      { ...perfEvent({ operation: 'tool:Bash', duration: 4000, sessionId, agentType: 'worker', timestamp: at(3), source: 'dual-agent', success: false }) },
      { source: 'dual-agent', type: 'error', sessionId, projectId: 'proj-e2e', agentType: 'worker', timestamp: at(8), payload: { operation: 'tool:Bash', message: 'exit status 1', code: 'E_EXIT' } },
    ]);
    // The list links to it; the link opens its timeline.
    const page = await openPage('#/sessions');
    await page.click(`[data-testid=session-list] a:has-text("${sessionId}")`);
    await page.waitForSelector('[data-testid=timeline]');
    assert.equal(new URL(page.url()).hash, `#/sessions/${encodeURIComponent(sessionId)}`);
    assert.equal(await page.locator('[data-testid=timeline] .link').count(), 1);
    assert.equal(await page.locator('[data-testid=timeline] .item.failed').count(), 2);
    assert.match(await page.textContent('[data-testid=session-detail]'), /2 errors/);
    assert.match(await page.textContent('[data-testid=session-events]'), /m-1 → w-1 · assign · task-1/);
    // Live: a new event of this session shows without reload.
    await postEvents(server.url, perfEvent({ operation: 'tool:Edit', duration: 50, sessionId, agentType: 'worker' }));
    await page.waitForSelector('[data-testid=session-events] >> text=tool:Edit', { timeout: 2000 });
    await page.close();
  });

  test('a chart of 50,000 points renders in under 200 ms', async () => {
    const page = await openPage('#/bench?n=50000');
    await page.waitForSelector('[data-testid=bench-result][data-ms]:not([data-ms=""])');
    const ms = Number(await page.getAttribute('[data-testid=bench-result]', 'data-ms'));
    const points = Number(await page.getAttribute('[data-testid=bench-chart]', 'data-points'));
    assert.equal(points, 50_000);
    // Once more in a fresh page, now that the code is compiled and cached.
    await page.reload();
    await page.waitForSelector('[data-testid=bench-result][data-ms]:not([data-ms=""])');
    const warm = Number(await page.getAttribute('[data-testid=bench-result]', 'data-ms'));
    recordFigure('chart50kRenderMs', { first: ms, reload: warm });
    assert.ok(ms < 200, `50,000 points drawn in ${ms} ms (budget 200 ms)`);
    assert.ok(warm < 200, `50,000 points drawn in ${warm} ms after reload (budget 200 ms)`);
    await page.close();
  });

  test('the banner shows while the server is down and the page reconnects after it restarts', async () => {
    const page = await openPage('#/events');
    await waitLive(page);
    assert.equal(await page.locator('[data-testid=disconnected-banner]').count(), 0);
    const port = server.port;
    await server.stop();
    await page.waitForSelector('[data-testid=disconnected-banner]', { timeout: 5000 });
    await sleep(1500); // a few failed retries while it is down
    server = await startServer({ port });
    const t0 = Date.now();
    await page.waitForSelector('[data-testid=disconnected-banner]', { state: 'detached', timeout: 10_000 });
    await waitLive(page);
    recordFigure('reconnectAfterRestartMs', Date.now() - t0);
    // Live again, with no reload: the restarted server numbers its events from 1.
    const op = uid('tool:AfterRestart');
    const t1 = Date.now();
    await postEvents(server.url, perfEvent({ operation: op, duration: 7 }));
    await page.waitForSelector(`[data-testid=feed-row] >> text=${op}`, { timeout: LIVE_BUDGET_MS });
    recordFigure('liveFeedLatencyAfterRestartMs', Date.now() - t1);
    await page.close();
  });

  test('with API keys the page asks for one, keeps it for the tab, and goes live with it', async () => {
    const key = `am-e2e-${process.pid}-secret`;
    const secured = await startServer({ config: configWithKey(key) });
    try {
      assert.equal((await api(secured.url, '/api/alerts')).status, 401);
      const page = await browser.newPage();
      await page.goto(`${secured.url}/#/events`);
      await page.waitForSelector('[data-testid=auth-prompt]');
      // A wrong key is refused and the prompt stays.
      await page.fill('[data-testid=auth-key]', 'wrong-key');
      await page.click('[data-testid=auth-submit]');
      await page.waitForSelector('[data-testid=auth-prompt] >> text=not accepted');
      await page.fill('[data-testid=auth-key]', key);
      await page.click('[data-testid=auth-submit]');
      await page.waitForSelector('[data-testid=auth-prompt]', { state: 'detached' });
      await waitLive(page);
      const op = uid('tool:Authed');
      await postEvents(secured.url, perfEvent({ operation: op, duration: 9 }), key);
      await page.waitForSelector(`[data-testid=feed-row] >> text=${op}`, { timeout: LIVE_BUDGET_MS });
      // Kept for the tab: a reload does not ask again.
      await page.reload();
      await waitLive(page);
      assert.equal(await page.locator('[data-testid=auth-prompt]').count(), 0);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('agent-monitor.apiKey')), key);
      await page.close();
    } finally {
      await secured.stop();
    }
  });

  test('screenshot of a busy overview for the README', async () => {
    // A server of its own, so no other test's data shows.
    const demo = await startServer();
    try {
      await shoot(demo.url);
    } finally {
      await demo.stop();
    }
  });
});

async function shoot(url) {
  await seedDemo(url);
  const page = await browser.newPage();
  await page.goto(`${url}/`);
  await waitLive(page);
  await page.waitForSelector('[data-testid=timeseries] .u-legend >> text=tool:Bash');
  await page.waitForFunction(() => document.querySelector('[data-testid=card-p95-value]')?.textContent !== '—');
  // The latency card's arrow comes from the trend API; the seeded spike is an anomaly;
  // the last Bash call fires the seeded rule.
  await page.waitForSelector('[data-testid=card-p95] .trend');
  await page.waitForSelector('[data-testid=overview-alerts] [data-rule-id=bash-slow]');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=timeseries]')?.dataset.markers) > 0);
  await sleep(1500); // let the debounced live refresh settle
  const path = join(repoDir, 'docs', 'screenshot.png');
  await page.screenshot({ path, fullPage: false });
  console.log(`screenshot: ${path}`);
  await page.close();
}

/** An hour of plausible traffic: three sessions, five operations, some failures, a
 * latency spike (for the anomaly markers) and a firing alert. */
async function seedDemo(url) {
  const now = Date.now();
  const ops = [
    ['tool:Read', 45],
    ['tool:Edit', 120],
    ['tool:Bash', 900],
    ['tool:Grep', 60],
    ['llm:completion', 2400],
  ];
  let r = 7;
  const rand = () => {
    r = (r * 1_103_515_245 + 12_345) % 2_147_483_648;
    return r / 2_147_483_648;
  };
  const events = [];
  for (let m = 60; m >= 1; m--) {
    for (let k = 0; k < 6; k++) {
      const [operation, base] = ops[(m * 6 + k) % ops.length];
      const spike = operation === 'tool:Bash' && (m === 17 || m === 16) ? 8 : 1;
      const duration = Math.round(base * spike * (0.7 + 0.6 * rand()));
      const sessionId = ['sess-alpha', 'sess-beta', 'sess-gamma'][k % 3];
      events.push(
        perfEvent({
          operation,
          duration,
          sessionId,
          projectId: k % 2 ? 'proj-web' : 'proj-api',
          agentType: k % 3 === 0 ? 'manager' : 'worker',
          source: k % 3 === 2 ? 'claude-cli' : 'dual-agent',
          timestamp: new Date(now - m * 60_000 + k * 7_000).toISOString(),
          success: rand() > 0.04,
        }),
      );
    }
    if (m % 9 === 0) {
      events.push({ source: 'dual-agent', type: 'error', projectId: 'proj-api', sessionId: 'sess-alpha', agentType: 'worker', timestamp: new Date(now - m * 60_000).toISOString(), payload: { operation: 'tool:Bash', message: 'command failed: exit status 2', code: 'E_EXIT' } });
    }
    if (m % 5 === 0) {
      events.push({ source: 'dual-agent', type: 'coordination', projectId: 'proj-api', sessionId: 'sess-alpha', agentType: 'manager', timestamp: new Date(now - m * 60_000 + 3000).toISOString(), payload: { managerId: 'mgr-1', workerId: 'wkr-2', phase: 'assign', taskId: `task-${m}`, coordinationScore: 0.9, latencyMs: 30 + m } });
    }
  }
  await postEvents(url, events);
  await api(url, '/api/alerts/rules', {
    method: 'POST',
    body: {
      id: 'bash-slow',
      name: 'Bash call slower than 2 s',
      condition: { kind: 'threshold', field: 'duration', op: 'gt', for: '0s', filters: { type: 'performance', operation: 'tool:Bash' } },
      threshold: 2000,
      severity: 'high',
      channels: [{ type: 'dashboard', config: {}, enabled: true }],
      cooldown: 300,
    },
  });
  const live = [];
  for (let i = 0; i < 8; i++) {
    const [operation, base] = ops[i % ops.length];
    live.push(perfEvent({ operation, duration: base, sessionId: 'sess-gamma', projectId: 'proj-web', agentType: 'worker' }));
  }
  await postEvents(url, live);
  // Last, since a later Bash call under the threshold resolves a threshold alert.
  await postEvents(url, perfEvent({ operation: 'tool:Bash', duration: 6200, sessionId: 'sess-beta', projectId: 'proj-web' }));
}
