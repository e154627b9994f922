#!/usr/bin/env node
// Keeps the committed production bundle honest.
//
//   node scripts/bundle-hash.mjs write   after `vite build`: records a hash of every input
//                                        of the build and of every file it produced
//   node scripts/bundle-hash.mjs check   fails when the sources changed since the bundle
//                                        was built, or the bundle was edited by hand
//
// The inputs are the sources (tests excluded: they do not reach the bundle), index.html,
// the build configuration and the lockfile, so a dependency bump also needs a rebuild.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, '..', 'crates', 'monitor-server', 'assets', 'dashboard');
const stampName = 'build-stamp.json';
const stampPath = join(outDir, stampName);

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const posix = (p) => p.split(sep).join('/');
const sha = (buf) => createHash('sha256').update(buf).digest('hex');
// Line endings are normalised so a checkout with autocrlf agrees with one without.
const textHash = (p) => sha(readFileSync(p, 'utf8').replace(/\r\n/g, '\n'));

export function inputFiles() {
  const fixed = ['index.html', 'package.json', 'package-lock.json', 'vite.config.ts', 'tsconfig.json'].map((f) => join(root, f));
  const src = walk(join(root, 'src')).filter((p) => !/\.test\.[jt]sx?$/.test(p) && !p.includes(`${sep}test${sep}`));
  const pub = walk(join(root, 'public'));
  return [...fixed, ...src, ...pub].sort();
}

export function sourceHash() {
  const h = createHash('sha256');
  for (const p of inputFiles()) {
    h.update(posix(relative(root, p)));
    h.update('\0');
    h.update(textHash(p));
    h.update('\n');
  }
  return h.digest('hex');
}

function outputs() {
  const files = {};
  for (const p of walk(outDir).sort()) {
    const rel = posix(relative(outDir, p));
    if (rel === stampName) continue;
    files[rel] = sha(readFileSync(p));
  }
  return files;
}

const mode = process.argv[2];
if (mode === 'write') {
  const files = outputs();
  if (!files['index.html']) {
    console.error(`bundle-hash: no index.html in ${outDir}; run vite build first`);
    process.exit(1);
  }
  const stamp = { sourceHash: sourceHash(), inputs: inputFiles().length, files };
  writeFileSync(stampPath, `${JSON.stringify(stamp, null, 2)}\n`);
  const total = Object.keys(files).reduce((n, f) => n + statSync(join(outDir, f)).size, 0);
  console.log(`bundle-hash: wrote ${posix(relative(join(root, '..'), stampPath))} (${Object.keys(files).length} files, ${total} bytes)`);
} else if (mode === 'check') {
  const problems = [];
  if (!existsSync(stampPath)) {
    problems.push(`${stampName} is missing: the bundle was never built with \`npm run build\``);
  } else {
    const stamp = JSON.parse(readFileSync(stampPath, 'utf8'));
    if (stamp.sourceHash !== sourceHash()) {
      problems.push('dashboard/ sources, lockfile or build config changed since the bundle was built');
    }
    const now = outputs();
    for (const [f, h] of Object.entries(stamp.files)) {
      if (!(f in now)) problems.push(`bundle file ${f} is missing`);
      else if (now[f] !== h) problems.push(`bundle file ${f} was changed after the build`);
    }
    for (const f of Object.keys(now)) if (!(f in stamp.files)) problems.push(`bundle file ${f} is not from the build`);
  }
  if (problems.length) {
    console.error('bundle-hash: the committed dashboard bundle is stale:');
    for (const p of problems) console.error(`  - ${p}`);
    console.error('rebuild it: (cd dashboard && npm ci && npm run build), then commit crates/monitor-server/assets/dashboard/');
    process.exit(1);
  }
  console.log('bundle-hash: the committed dashboard bundle matches dashboard/ sources');
} else {
  console.error('usage: bundle-hash.mjs write|check');
  process.exit(2);
}
