// Shared pieces of the browser tests: the real monitor-server binary on a free loopback
// port, Debian's Chromium driven by playwright-core, and HTTP helpers.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const dashboardDir = fileURLToPath(new URL('..', import.meta.url));
export const repoDir = resolve(dashboardDir, '..');
export const resultsDir = join(dashboardDir, 'test-results');
mkdirSync(resultsDir, { recursive: true });

export function serverBinary() {
  if (process.env.MONITOR_SERVER_BIN) return process.env.MONITOR_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR ? resolve(repoDir, process.env.CARGO_TARGET_DIR) : join(repoDir, 'target');
  return join(target, 'debug', 'monitor-server');
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function sha256Hex(text) {
  return createHash('sha256').update(text).digest('hex');
}

/** Writes a config file with one admin key; returns its path. */
export function configWithKey(key) {
  const dir = mkdtempSync(join(tmpdir(), 'am-e2e-'));
  const path = join(dir, 'monitor.toml');
  writeFileSync(
    path,
    `[[auth.keys]]\nid = "e2e-admin"\nhash = "sha256:${sha256Hex(key)}"\nrole = "admin"\nprojects = ["*"]\n`,
  );
  return path;
}

let serverCount = 0;

/**
 * Starts `monitor-server --listen 127.0.0.1:PORT --store memory [--config FILE]` and waits
 * for /healthz. The same port can be reused by a later start (the restart test).
 */
export async function startServer({ port, config } = {}) {
  const bin = serverBinary();
  if (!existsSync(bin)) throw new Error(`monitor-server binary not found at ${bin}; run cargo build -p monitor-server`);
  port ??= await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, '--store', 'memory'];
  const dataDir = mkdtempSync(join(tmpdir(), 'am-e2e-data-'));
  args.push('--data-dir', dataDir);
  if (config) args.push('--config', config);
  serverCount += 1;
  const log = createWriteStream(join(resultsDir, `server-${port}-${serverCount}.log`));
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`monitor-server exited during start-up (${JSON.stringify(exited)}); see ${log.path}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`monitor-server did not answer /healthz within 60 s; see ${log.path}`);
    }
    await sleep(50);
  }
  return {
    url,
    port,
    child,
    /** Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. */
    async stop(signal = 'SIGTERM') {
      if (exited) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`${executablePath} not found: apt-get install -y chromium`);
  const userDataDir = mkdtempSync(join(tmpdir(), 'am-e2e-chromium-'));
  // A persistent context is how playwright-core takes a user-data dir of our own.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
  });
  return context;
}

/** POSTs events (one or an array); returns the parsed answer and asserts 202. */
export async function postEvents(url, events, key) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(`${url}/api/events`, { method: 'POST', headers, body: JSON.stringify(events) });
  const body = await r.json().catch(() => null);
  if (r.status !== 202) throw new Error(`POST /api/events answered ${r.status}: ${JSON.stringify(body)}`);
  return body;
}

export async function api(url, path, { method = 'GET', body, key } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: r.status, body: json };
}

let seq = 0;
/** A unique id prefix for this run, so tests sharing a server never see each other's data. */
export function uid(prefix) {
  seq += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq}`;
}

export function perfEvent({ operation, duration, sessionId = 'sess-e2e', projectId = 'proj-e2e', agentType = 'worker', timestamp, success = true, source = 'claude-cli' }) {
  const e = {
    source,
    type: 'performance',
    projectId,
    sessionId,
    agentType,
    payload: { operation, duration, memoryUsage: 300 + Math.round(duration % 200), cpuUsage: 10 + (duration % 50), success },
  };
  if (timestamp) e.timestamp = timestamp;
  return e;
}

/** Records measured figures to test-results/figures.json for the report and docs. */
export function recordFigure(name, value) {
  const path = join(resultsDir, 'figures.json');
  let all = {};
  try {
    all = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    all = {};
  }
  all[name] = value;
  writeFileSync(path, `${JSON.stringify(all, null, 2)}\n`);
  console.log(`figure: ${name} = ${JSON.stringify(value)}`);
}

