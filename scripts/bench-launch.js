#!/usr/bin/env node
/**
 * `npm run bench:launch`: how long the terminal client takes to start, with and without work
 * for the set-up, interleaved round by round so a busy machine slows every case alike.
 *
 *   floor      node dist/tui/main.js --help        (Node and the client alone)
 *   warm       npm run tui -- --help               (nothing to set up: the usual second launch)
 *   cold       the same after touching tui/view.ts (the set-up rebuilds)
 *   npx        npx chatfabric-tui --help
 *   prompt     npm run tui in tmux, until the name prompt is on the screen (warm)
 *
 * Wall time per case, and the CPU time of the processes it ran (from /proc/self/stat's
 * children times, so work done elsewhere on the machine is not counted); medians of the rounds.
 * `cold` touches tui/view.ts (its modification time only), which the next launch rebuilds anyway.
 * Usage: node scripts/bench-launch.js [--rounds 5]
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 5;
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);
const TMUX = `cf-bench-launch-${process.pid}`;

/** CPU time, ms, of this process's waited-for children so far. */
function childrenCpuMs() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: field 16 (cutime) and 17 (cstime) are at indexes 13 and 14.
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

function timed(cmd, args) {
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { wall, cpu: childrenCpuMs() - cpu0 };
}

function tmux(...args) {
  return execFileSync('tmux', ['-L', TMUX, ...args], { encoding: 'utf8' });
}

/** From launch in a fresh tmux window until the name prompt shows (the interface is up). */
function untilPrompt() {
  const t0 = performance.now();
  // Port 1 refuses at once: the prompt does not wait for any server.
  tmux('new-session', '-d', '-s', 'b', '-x', '90', '-y', '24', `cd ${ROOT} && npm run tui -- --url ws://127.0.0.1:1/ws`);
  try {
    for (;;) {
      if (tmux('capture-pane', '-p', '-t', 'b').includes('choose a username')) return { wall: performance.now() - t0, cpu: NaN };
      if (performance.now() - t0 > 30_000) throw new Error('no name prompt within 30 s');
      spawnSync('sleep', ['0.01']);
    }
  } finally {
    tmux('kill-session', '-t', 'b');
  }
}

const cases = {
  floor: () => timed(process.execPath, ['dist/tui/main.js', '--help']),
  warm: () => timed('npm', ['run', '-s', 'tui', '--', '--help']),
  cold: () => {
    const now = new Date();
    fs.utimesSync(path.join(ROOT, 'tui', 'view.ts'), now, now);
    return timed('npm', ['run', '-s', 'tui', '--', '--help']);
  },
  npx: () => timed('npx', ['--no-install', 'chatfabric-tui', '--help']),
  prompt: untilPrompt,
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function main() {
  // Start from a built tree, so the first warm round has nothing to do.
  execFileSync('bash', ['scripts/setup.sh'], { cwd: ROOT, stdio: 'inherit' });
  const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(cases)) results[name].push(run());
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    try {
      execFileSync('tmux', ['-L', TMUX, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // no tmux server left
    }
  }
  const floor = median(results.floor.map((r) => r.wall));
  const fmt = (ms) => (Number.isNaN(ms) ? '-' : `${ms.toFixed(0)} ms`);
  console.log(`launch times, median of ${ROUNDS} interleaved rounds (wall: min..max; cpu: the processes started)`);
  console.log('| case | wall | min..max | cpu | wall ÷ floor |');
  console.log('|---|---|---|---|---|');
  for (const [name, rs] of Object.entries(results)) {
    const walls = rs.map((r) => r.wall);
    const m = median(walls);
    console.log(`| ${name} | ${fmt(m)} | ${fmt(Math.min(...walls))}..${fmt(Math.max(...walls))} | ${fmt(median(rs.map((r) => r.cpu)))} | ${(m / floor).toFixed(1)}x |`);
  }
}

main();
