#!/usr/bin/env node
/**
 * The build: the Node code (tsconfig.json) into dist/, the browser client (tsconfig.web.json)
 * into dist/web/assets, and web/public (the page, styles, icon) copied into dist/web.
 *
 * `--if-stale` (what scripts/setup.sh runs on every start) builds only when an input is newer
 * than the last build, and then says so; with nothing to do it is silent and takes a few
 * milliseconds, so `npm run tui` opens at once. The stamp carries the time the last build
 * *started*, so a file saved while tsc ran counts as newer and is built next time.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const STAMP = path.join(root, 'dist', '.build-stamp');
/** Everything the build reads: the sources of both projects, their configs, the dependencies' lock. */
const INPUTS = ['src', 'tui', 'loadtest', 'test/support', 'web', 'tsconfig.json', 'tsconfig.web.json', 'package-lock.json', 'scripts/build.js'];
/** Under the inputs but not read by the build: the benchmark's results (npm run bench writes them). */
const NOT_INPUTS = new Set([path.join(root, 'loadtest', 'results')]);

/** The newest modification time under `p` (a file or a directory), 0 when it does not exist. */
function newest(p, base = root) {
  if (NOT_INPUTS.has(path.join(root, path.relative(base, p)))) return 0;
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  // A directory's own mtime changes when a file is added, removed or renamed in it.
  let max = st.mtimeMs;
  for (const entry of fs.readdirSync(p)) max = Math.max(max, newest(path.join(p, entry), base));
  return max;
}

/** Why a build of the tree at `dir` is needed, or null when its dist/ is up to date. */
function staleness(dir = root) {
  let built;
  try {
    built = fs.statSync(path.join(dir, path.relative(root, STAMP))).mtimeMs;
  } catch {
    return 'no build yet';
  }
  for (const input of INPUTS) if (newest(path.join(dir, input), dir) > built) return `${input} changed`;
  return null;
}

function build() {
  const started = new Date();
  for (const project of ['tsconfig.json', 'tsconfig.web.json']) {
    execFileSync(process.execPath, [tsc, '-p', path.join(root, project)], { stdio: 'inherit', cwd: root });
  }
  fs.cpSync(path.join(root, 'web', 'public'), path.join(root, 'dist', 'web'), { recursive: true });
  fs.writeFileSync(STAMP, `${started.toISOString()}\n`);
  fs.utimesSync(STAMP, started, started);
}

if (require.main === module) {
  const ifStale = process.argv.includes('--if-stale');
  const why = ifStale ? staleness() : 'asked to';
  if (why) {
    if (ifStale) process.stderr.write(`chatfabric setup: building (${why})\n`);
    try {
      build();
    } catch {
      try {
        fs.rmSync(STAMP, { force: true }); // a failed build is not up to date
      } catch {
        // nothing to remove
      }
      process.exit(1); // tsc printed its errors
    }
  }
}

module.exports = { build, staleness };
