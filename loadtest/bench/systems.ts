/**
 * The systems the benchmark compares, and how to start and stop each on loopback:
 *
 * - `chatfabric`, `chatfabric-nginx`: the real local cluster as `npm start` runs it (PM2 cluster
 *   mode, 2 workers, embedded nats-server and redis-server, nginx), each under its own temporary
 *   PM2_HOME; clients straight to the workers, or through nginx.
 * - `socketio`: Socket.IO 4 + @socket.io/redis-adapter, 2 processes and a redis-server.
 * - `ws-nats`: chatfabric's design reduced to ws + NATS, 2 processes and a nats-server.
 * - `ws`: one ws process, fan-out in memory.
 *
 * The peers' servers are in servers/ and run from their build in dist/ (npm run build first).
 * Every process is stopped by PID; a system's stop() also kills by PID whatever of it outlived
 * the orderly shutdown, checking the start time so a recycled PID is never hit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { schema } from '../../src/config';
import { startPm2Cluster, type Pm2Cluster } from '../../test/support/pm2-cluster';
import { freePort, startNats, startRedis, type ServerHandle } from '../../test/support/servers';
import { ROOT } from '../../test/support/worker';

export type SystemName = 'chatfabric' | 'chatfabric-nginx' | 'socketio' | 'ws-nats' | 'ws';
export type Dialect = 'chatfabric' | 'socketio';
export interface Endpoint {
  host: string;
  port: number;
  /** '/ws' or '/socket.io/' */
  path: string;
}
export interface ServerProcess {
  pid: number;
  /** 'worker' | 'nats' | 'redis' | 'nginx' | 'pm2' | 'server' */
  role: string;
}
export interface RunningSystem {
  name: SystemName;
  /** One line for reports, e.g. "chatfabric: 2 PM2 cluster workers + NATS + Redis, history on, clients straight to the workers". */
  label: string;
  dialect: Dialect;
  /** Client i connects to endpoints[i % endpoints.length]. */
  endpoints: Endpoint[];
  /** Bytes a frame starts with that tells the client it is in its room. */
  readyPrefix: string;
  /** Every server process of the system right now, re-read on each call (a reload changes PIDs). */
  processes(): Promise<ServerProcess[]>;
  /** chatfabric systems only: `pm2 reload` of the workers, resolves when PM2 says it is done. */
  reload?(): Promise<void>;
  /** chatfabric systems only: its Redis, for probes of how long Redis stalls. */
  redisUrl?: string;
  /** Stops every process it started, by PID, and removes temp dirs; safe to call twice. */
  stop(): Promise<void>;
}

/** All five, in report order. */
export const SYSTEMS: SystemName[] = ['chatfabric', 'chatfabric-nginx', 'socketio', 'ws-nats', 'ws'];

const HOST = '127.0.0.1';
const SERVERS_DIR = path.join(ROOT, 'dist', 'loadtest', 'bench', 'servers');
/** What ecosystem.config.js runs as the worker. */
const WORKER_SCRIPT = path.join(ROOT, 'dist', 'src', 'main.js');
const PEER_READY_TIMEOUT_MS = 15_000;
const PEER_STOP_GRACE_MS = 5000;
const STRAGGLER_WAIT_MS = 10_000;

/**
 * Starts one system and resolves when every endpoint accepts clients. `opts.env` reaches every
 * server process of it (the chatfabric workers through PM2, the peers directly).
 */
export async function startSystem(name: SystemName, opts: { env?: Record<string, string>; workers?: number } = {}): Promise<RunningSystem> {
  const env = opts.env ?? {};
  switch (name) {
    case 'chatfabric':
    case 'chatfabric-nginx':
      return startChatfabric(name, env, opts.workers ?? 2);
    case 'socketio':
      return startSocketio(env);
    case 'ws-nats':
      return startWsNats(env);
    case 'ws':
      return startWs(env);
    default:
      throw new Error(`unknown system "${name as string}"; one of ${SYSTEMS.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// /proc: who is running, and whose child it is.

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** Clock ticks after boot; with the PID it names one process, even after PID reuse. */
  start: number;
}

/** A process of a system as stop() remembers it. */
interface Tracked extends ServerProcess {
  start: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm is in parentheses and may itself contain spaces or ")"; the fields after the last ")" are plain.
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // A zombie has exited; it no longer uses CPU and its PID is about to be reaped.
  if (rest[0] === 'Z' || rest[0] === 'X') return null;
  return { pid, ppid: Number(rest[1]), comm: text.slice(text.indexOf('(') + 1, close), start: Number(rest[19]) };
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(Number(entry));
    if (s) out.push(s);
  }
  return out;
}

/**
 * The given processes that are alive, plus all their descendants with the role of the ancestor
 * (nginx's workers, a redis-server fork writing a snapshot). `role` may classify by the root's
 * process name instead of a fixed role.
 */
function processTree(roots: { pid: number; role: string | ((s: ProcStat) => string) }[], stats = allStats()): Tracked[] {
  const children = new Map<number, ProcStat[]>();
  const byPid = new Map<number, ProcStat>();
  for (const s of stats) {
    byPid.set(s.pid, s);
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const out: Tracked[] = [];
  const seen = new Set<number>();
  for (const root of roots) {
    const top = byPid.get(root.pid);
    if (!top || seen.has(top.pid)) continue;
    const role = typeof root.role === 'string' ? root.role : root.role(top);
    const queue = [top];
    while (queue.length > 0) {
      const s = queue.shift()!;
      if (seen.has(s.pid)) continue;
      seen.add(s.pid);
      out.push({ pid: s.pid, role, start: s.start });
      queue.push(...(children.get(s.pid) ?? []));
    }
  }
  return out;
}

function isSame(p: Tracked): boolean {
  const s = readStat(p.pid);
  return s !== null && s.start === p.start;
}

/** Waits until every remembered process is gone; SIGKILLs by PID the ones still there after `graceMs`. */
async function reap(procs: Tracked[], graceMs: number): Promise<void> {
  const end = Date.now() + graceMs;
  while (procs.some(isSame) && Date.now() < end) await sleep(50);
  const left = procs.filter(isSame);
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const hard = Date.now() + 5000;
  while (left.some(isSame) && Date.now() < hard) await sleep(50);
  const stuck = left.filter(isSame);
  if (stuck.length > 0) throw new Error(`processes survived SIGKILL: ${stuck.map((p) => `${p.pid} (${p.role})`).join(', ')}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function publicView(procs: Tracked[]): ServerProcess[] {
  return procs.map(({ pid, role }) => ({ pid, role }));
}

/** Runs `fn` once; later calls get the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => (running ??= fn());
}

// ---------------------------------------------------------------------------------------------
// chatfabric under PM2

/**
 * PM2 starts every app of the ecosystem as a direct child of its daemon. Anything else under the
 * daemon is its own helper (it runs git through `vizion` on every start and reload) and counts as
 * PM2's cost, not a worker's.
 */
function pm2ChildRole(s: ProcStat): string {
  if (s.comm.startsWith('nats')) return 'nats';
  if (s.comm.startsWith('redis')) return 'redis';
  if (s.comm.startsWith('nginx')) return 'nginx';
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8');
  } catch {
    // gone meanwhile
  }
  // A cluster worker starts as PM2's ProcessContainer.js, then takes the title "node <script>".
  return cmdline.includes(WORKER_SCRIPT) || cmdline.includes('ProcessContainer') ? 'worker' : 'pm2';
}

async function startChatfabric(name: 'chatfabric' | 'chatfabric-nginx', env: Record<string, string>, workers: number): Promise<RunningSystem> {
  const cluster: Pm2Cluster = await startPm2Cluster({
    workers,
    env: {
      // pm2-cluster.ts picks values for tests; the benchmark runs what users run.
      LOG_LEVEL: String(schema.log.level.default),
      DRAIN_TIMEOUT_MS: String(schema.drain.timeoutMs.default),
      // Except the per-address limits, nginx's and the workers': the generators stand for many
      // users on few loopback addresses (250 connections per address) and open hundreds per
      // address per second in connect storms, so the limits would refuse them and measure
      // nothing but the limiter.
      CHATFABRIC_CONN_PER_ADDRESS: '0',
      CHATFABRIC_HANDSHAKES_PER_SEC: '0',
      MAX_CONNECTIONS_PER_ADDRESS: '0',
      HANDSHAKE_RATE_PER_SEC: '0',
      ...env,
    },
  });
  const pm2Home = cluster.env.PM2_HOME!;
  const daemonPid = (): number | null => {
    try {
      const pid = Number(readFileSync(path.join(pm2Home, 'pm2.pid'), 'utf8').trim());
      return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  // The daemon and everything under it: its children are exactly the apps (workers, including
  // old ones still draining during a reload, nats, redis, the nginx master), and their children
  // are nginx's workers. Read from /proc, not `pm2 jlist`: a jlist is a Node start-up plus an RPC,
  // a CPU cost on the machine under test each time the harness samples.
  const tracked = (): Tracked[] => {
    const pid = daemonPid();
    if (pid === null) return [];
    const stats = allStats();
    const daemon = stats.find((s) => s.pid === pid);
    if (!daemon) return [];
    const apps = stats.filter((s) => s.ppid === pid).map((s) => ({ pid: s.pid, role: pm2ChildRole }));
    return [{ pid, role: 'pm2', start: daemon.start }, ...processTree(apps, stats)];
  };
  const nginx = name === 'chatfabric-nginx';
  return {
    name,
    label: nginx
      ? `chatfabric-nginx: ${workers} PM2 cluster workers + NATS + Redis, history on, clients through nginx (sticky by username)`
      : `chatfabric: ${workers} PM2 cluster workers + NATS + Redis, history on, clients straight to the workers`,
    dialect: 'chatfabric',
    redisUrl: cluster.redisUrl,
    endpoints: nginx
      ? [{ host: HOST, port: cluster.publicPort, path: '/ws' }]
      : cluster.workerPorts.map((port) => ({ host: HOST, port, path: '/ws' })),
    // chatfabric.v1 sends welcome, joined, then history: after history, live messages follow.
    readyPrefix: '{"type":"history"',
    processes: async () => publicView(tracked()),
    reload: async () => {
      await cluster.pm2('reload', `${cluster.name}-worker`);
    },
    stop: once(async () => {
      const before = tracked();
      await cluster.stop();
      await reap(before, STRAGGLER_WAIT_MS);
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// The peers: node processes running dist/loadtest/bench/servers/*.js

interface Peer {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/** Spawns a peer server on `port` and resolves once it printed `listening <port>`. */
async function startPeer(server: 'socketio' | 'ws-nats' | 'ws', port: number, env: Record<string, string>): Promise<Peer> {
  const file = path.join(SERVERS_DIR, `${server}.js`);
  const proc = spawn(process.execPath, [file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // chatfabric's workers run with NODE_ENV=production under PM2 (ecosystem.config.js).
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORT: String(port), ...env },
  });
  let stderr = '';
  let stdout = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-4000)));
  const done = exited(proc);
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), PEER_STOP_GRACE_MS);
    await done;
    clearTimeout(t);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(`did not print "listening ${port}" within ${PEER_READY_TIMEOUT_MS} ms`), PEER_READY_TIMEOUT_MS);
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`${server} server (${file}) ${why}\nstderr:\n${stderr || '(empty)'}`));
      };
      const onExit = (code: number | null, signal: string | null) => fail(`exited with ${code ?? signal} before it was ready`);
      proc.once('error', (err) => fail(`could not start: ${err.message}`));
      proc.once('exit', onExit);
      proc.stdout!.on('data', (d: Buffer) => {
        stdout = (stdout + d).slice(-4000);
        if (stdout.split('\n').includes(`listening ${port}`)) {
          clearTimeout(timer);
          proc.removeListener('exit', onExit);
          resolve();
        }
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: proc.pid!, port, stop };
}

/** `count` distinct ports that were free a moment ago. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/**
 * Starts a backing server (or none) and `count` peer processes, and builds the RunningSystem.
 * Whatever started is stopped again if a later step fails.
 */
async function startPeers(spec: {
  name: SystemName;
  label: string;
  dialect: Dialect;
  server: 'socketio' | 'ws-nats' | 'ws';
  count: number;
  path: string;
  readyPrefix: string;
  backing: { role: string; start: () => Promise<ServerHandle>; env: (h: ServerHandle) => Record<string, string> } | null;
  env: Record<string, string>;
}): Promise<RunningSystem> {
  let backing: ServerHandle | null = null;
  const peers: Peer[] = [];
  const roots = () => [
    ...peers.map((p) => ({ pid: p.pid, role: 'server' })),
    ...(backing ? [{ pid: backing.pid, role: spec.backing!.role }] : []),
  ];
  const stop = once(async () => {
    const before = processTree(roots());
    await Promise.all(peers.map((p) => p.stop()));
    await backing?.stop();
    await reap(before, STRAGGLER_WAIT_MS);
  });
  try {
    if (spec.backing) backing = await spec.backing.start();
    const env = { ...(backing && spec.backing ? spec.backing.env(backing) : {}), ...spec.env };
    const ports = await freePorts(spec.count);
    const started = await Promise.allSettled(ports.map((port) => startPeer(spec.server, port, env)));
    for (const r of started) if (r.status === 'fulfilled') peers.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: spec.name,
    label: spec.label,
    dialect: spec.dialect,
    endpoints: peers.map((p) => ({ host: HOST, port: p.port, path: spec.path })),
    readyPrefix: spec.readyPrefix,
    processes: async () => publicView(processTree(roots())),
    stop,
  };
}

function startSocketio(env: Record<string, string>): Promise<RunningSystem> {
  return startPeers({
    name: 'socketio',
    label: `socketio: Socket.IO ${version('socket.io')} + @socket.io/redis-adapter ${version('@socket.io/redis-adapter')}, 2 processes + Redis, WebSocket transport only`,
    dialect: 'socketio',
    server: 'socketio',
    count: 2,
    path: '/socket.io/',
    readyPrefix: '42["joined"',
    backing: { role: 'redis', start: () => startRedis(), env: (h) => ({ REDIS_URL: h.url }) },
    env,
  });
}

function startWsNats(env: Record<string, string>): Promise<RunningSystem> {
  return startPeers({
    name: 'ws-nats',
    label: 'ws-nats: 2 ws processes + NATS, chatfabric dialect subset; lower bound: no presence, no history, no validation beyond JSON',
    dialect: 'chatfabric',
    server: 'ws-nats',
    count: 2,
    path: '/ws',
    readyPrefix: '{"type":"joined"',
    backing: { role: 'nats', start: () => startNats(), env: (h) => ({ NATS_URL: h.url }) },
    env,
  });
}

function startWs(env: Record<string, string>): Promise<RunningSystem> {
  return startPeers({
    name: 'ws',
    label: 'ws: 1 ws process, in-process fan-out, chatfabric dialect subset; lower bound: no presence, no history, no validation beyond JSON',
    dialect: 'chatfabric',
    server: 'ws',
    count: 1,
    path: '/ws',
    readyPrefix: '{"type":"joined"',
    backing: null,
    env,
  });
}
