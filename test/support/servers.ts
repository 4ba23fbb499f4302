/**
 * Launchers for real nats-server and redis-server processes on free loopback ports.
 * Each returns a handle that stops its process by PID and removes its temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ServerHandle {
  url: string;
  port: number;
  pid: number;
  proc: ChildProcess;
  dir: string;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL at once. */
  kill(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

function handle(proc: ChildProcess, url: string, port: number, dir: string, keepDir = false): ServerHandle {
  const pid = proc.pid!;
  const stop = async (signal: NodeJS.Signals) => {
    const done = exited(proc);
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
    const t = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 3000);
    await done;
    clearTimeout(t);
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };
  return { url, port, pid, proc, dir, stop: () => stop('SIGTERM'), kill: () => stop('SIGKILL') };
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface NatsHandle extends ServerHandle {
  /** Rewrites the configuration file (see startNats' `config`) and has the server reload it. */
  reload(config: string): Promise<void>;
}

/**
 * Starts nats-server on a port it picks itself (`-p -1`), read back from its ports file, as
 * nats.js's own tests do. `extraArgs` can add cluster options; `config` is the text of a
 * configuration file (authorization, permissions) the server is started with.
 */
export async function startNats(opts: { port?: number; extraArgs?: string[]; name?: string; config?: string } = {}): Promise<NatsHandle> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(opts.port ?? -1), '--ports_file_dir', dir, ...(opts.extraArgs ?? [])];
  if (opts.name) args.push('-n', opts.name);
  const configFile = path.join(dir, 'nats.conf');
  if (opts.config !== undefined) {
    writeFileSync(configFile, opts.config, { mode: 0o600 });
    args.push('-c', configFile);
  }
  const proc = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let reloads = 0;
  proc.stderr!.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
    reloads += String(d).split('Reloaded server configuration').length - 1;
  });
  let url = '';
  await waitUntil(
    () => {
      if (proc.exitCode !== null) throw new Error(`nats-server exited: ${stderr}`);
      const file = readdirSync(dir).find((f) => f.endsWith('.ports'));
      if (!file) return false;
      url = (JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nats: string[] }).nats[0];
      return true;
    },
    10_000,
    'nats-server ports file',
  ).catch((err) => {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  });
  const port = Number(new URL(url).port);
  return {
    ...handle(proc, `nats://127.0.0.1:${port}`, port, dir),
    async reload(config: string) {
      if (opts.config === undefined) throw new Error('reload needs a server started with a config');
      const before = reloads;
      writeFileSync(configFile, config, { mode: 0o600 });
      process.kill(proc.pid!, 'SIGHUP');
      await waitUntil(() => reloads > before, 10_000, `nats-server to reload its configuration\n${stderr}`);
    },
  };
}

/**
 * Starts redis-server on a free loopback port with no persistence; retries if the port was taken
 * meanwhile. `password` goes into a configuration file (as the embedded server's does, so it
 * never shows in the process list) and into the handle's url; `maxmemory` sets the limit, with
 * the policy `noeviction`.
 */
export async function startRedis(opts: { port?: number; password?: string; maxmemory?: string } = {}): Promise<ServerHandle> {
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
    if (opts.password !== undefined) {
      const conf = path.join(dir, 'redis.conf');
      writeFileSync(conf, `requirepass ${opts.password}\n`, { mode: 0o600 });
      args.unshift(conf);
    }
    if (opts.maxmemory) args.push('--maxmemory', opts.maxmemory, '--maxmemory-policy', 'noeviction');
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d) => (out = (out + d).slice(-4000)));
    try {
      await waitUntil(
        async () => {
          if (proc.exitCode !== null) throw new Error(`redis-server exited: ${out}`);
          return tcpOpen(port);
        },
        10_000,
        `redis-server on ${port}`,
      );
      const auth = opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`;
      return handle(proc, `redis://${auth}127.0.0.1:${port}`, port, dir);
    } catch (err) {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= 3 || opts.port) throw err;
    }
  }
}
