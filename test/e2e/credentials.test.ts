/**
 * Credentials through the real cluster (PM2 cluster-mode workers, nginx in front) with
 * authentication on: JWTs and the Origin allowlist work across both workers through nginx, and no
 * secret reaches any log, even when nginx writes its error log (one worker stopped: nginx logs
 * the request line of every handshake it cannot pass to it, and fails over to the other).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { connect, connectV1, type ConnectOptions, type TestClient } from '../support/client';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';
import { ROOT } from '../support/worker';

const run = promisify(execFile);

type Jose = typeof import('jose');
const SECRET = 'e2e-secret-0123456789-abcdefghijklmn';
const WRONG_SECRET = 'not-the-secret-0123456789-abcdefghij';

/** Every regular file under `dir`, recursively (sockets and the like skipped). */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) out.push(...files(p));
    else if (st?.isFile()) out.push(p);
  }
  return out;
}

describe('credentials through nginx across both workers (PM2 cluster, auth.mode jwt)', () => {
  let cluster: Pm2Cluster;
  let jose: Jose;
  const clients: TestClient[] = [];
  const cores: ChatClient[] = [];
  /** Every token and session token this file sends: none may reach a log (the last test checks). */
  const secrets: string[] = [];
  const sign = async (sub: string, opts: { secret?: string; expSec?: number } = {}) => {
    const token = await new jose.SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expSec ?? 3600))
      .sign(new TextEncoder().encode(opts.secret ?? SECRET));
    secrets.push(token);
    return token;
  };
  const open = async (user: string | null, opts: Omit<ConnectOptions, 'v1'>) => {
    const c = await connectV1(cluster.wsUrl, user, opts);
    clients.push(c);
    return c;
  };
  const refusal = (user: string | null, opts: ConnectOptions) =>
    connect(cluster.wsUrl, user, { v1: true, ...opts }).then(
      (c) => {
        clients.push(c);
        throw new Error(`${user} was let in`);
      },
      (e: { status?: number; body?: string }) => ({ status: e.status, body: e.body?.trim() }),
    );

  beforeAll(async () => {
    jose = await import('jose');
    cluster = await startPm2Cluster({
      workers: 2,
      // debug: the workers log everything they can, refusals included; none of it may hold a secret.
      env: { AUTH_MODE: 'jwt', AUTH_SECRET: SECRET, AUTH_CLOCK_TOLERANCE_SEC: '0', LOG_LEVEL: 'debug', PRESENCE_NOTICE_MS: '0' },
    });
  }, 90_000);

  const tmuxSocket = `cf-cred-${process.pid}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', tmuxSocket, ...args]);
  afterAll(async () => {
    await tmux('kill-server').catch(() => undefined);
    for (const c of clients) c.terminate();
    for (const c of cores) c.close();
    await cluster?.stop();
  }, 60_000);

  it('lets token holders in on both workers, names them from the token, and refuses bad tokens, other names and other origins', async () => {
    // Users with the name in the query (nginx hashes on it) until both workers hold some.
    const byWorker = new Map<string, TestClient>();
    for (let i = 0; i < 24 && byWorker.size < 2; i++) {
      const user = `tok${i}`;
      const c = await open(user, { token: await sign(user) });
      expect(c.ofType('welcome')[0].user).toBe(user);
      byWorker.set(c.ofType('welcome')[0].worker, c);
    }
    expect(byWorker.size, 'users on both workers').toBe(2);
    const [a, b] = [...byWorker.values()];
    a.send({ type: 'message', text: 'across the fabric with a token' });
    await b.waitFor((f) => f.type === 'message' && f.from === a.username && f.text === 'across the fabric with a token', { timeoutMs: 10_000 });

    // No name in the query: nginx spreads such handshakes, the worker takes the name from the token.
    const bare = await open(null, { bearer: await sign('bare') });
    expect(bare.ofType('welcome')[0].user).toBe('bare');

    expect(await refusal('nobody', {})).toMatchObject({ status: 401, body: expect.stringContaining('authentication required') });
    expect(await refusal(null, { token: await sign('wrongkey', { secret: WRONG_SECRET }) })).toEqual({ status: 401, body: 'invalid token: bad signature' });
    expect(await refusal(null, { token: await sign('old', { expSec: -30 }) })).toEqual({ status: 401, body: 'invalid token: expired' });
    expect(await refusal('mallory', { token: await sign('victim') })).toMatchObject({ status: 403 });
    // The local cluster allows pages of its own public port only.
    expect(await refusal('page', { token: await sign('page'), origin: 'https://evil.example' })).toMatchObject({ status: 403, body: expect.stringContaining('origin not allowed') });
    const local = await open('page', { token: await sign('page'), origin: `http://127.0.0.1:${cluster.publicPort}` });
    expect(local.ofType('welcome')[0].user).toBe('page');

    // A token that runs out closes its connection with 4008, through nginx.
    const brief = await open('brief', { token: await sign('brief', { expSec: 3 }) });
    expect(await brief.closed).toBe(4008);
    expect(brief.closeReason).toBe('token expired');
  }, 120_000);

  it('runs the terminal client with CHATFABRIC_TOKEN: no name prompt, the name from the token', async () => {
    const tui = path.join(ROOT, 'dist', 'tui', 'main.js');
    const token = await sign('tuitok');
    // The token in the environment (not the command line, where ps would show it).
    await tmux('new-session', '-d', '-s', 'tok', '-x', '100', '-y', '24', '-e', `CHATFABRIC_TOKEN=${token}`, `${process.execPath} ${tui} --url ${cluster.wsUrl}`);
    const screen = async () => (await tmux('capture-pane', '-p', '-t', 'tok')).stdout;
    await waitUntil(async () => (await screen()).includes('as tuitok'), 20_000, 'the TUI to connect as tuitok').catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await screen()}`);
    });
    expect(await screen()).not.toContain('choose a username');
    const peer = await open('tuipeer', { token: await sign('tuipeer') });
    await tmux('send-keys', '-t', 'tok', '-l', 'typed with a token');
    await tmux('send-keys', '-t', 'tok', 'Enter');
    await peer.waitFor((f) => f.type === 'message' && f.from === 'tuitok' && f.text === 'typed with a token', { timeoutMs: 15_000 });
    // A bad token: the TUI shows the server's reason and stops.
    await tmux('new-session', '-d', '-s', 'bad', '-x', '100', '-y', '24', `${process.execPath} ${tui} --url ${cluster.wsUrl} --token ${await sign('x', { secret: WRONG_SECRET })}`);
    const badScreen = async () => (await tmux('capture-pane', '-p', '-t', 'bad')).stdout;
    await waitUntil(async () => (await badScreen()).includes('invalid token: bad signature'), 20_000, 'the TUI to show the refusal').catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await badScreen()}`);
    });
  }, 90_000);

  it('writes no session token or JWT into any log, nginx error log included (one worker stopped)', async () => {
    const procs = JSON.parse(await cluster.pm2('jlist')) as { name: string; pm_id: number; pm2_env: { NODE_APP_INSTANCE?: number } }[];
    const stopped = procs.find((p) => p.name === `${cluster.name}-worker` && Number(p.pm2_env.NODE_APP_INSTANCE ?? 0) === 1)!;
    await cluster.pm2('stop', String(stopped.pm_id));
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${cluster.workerPorts[1]}/readyz`).then(() => false, () => true)), 20_000, 'worker 1 down');

    for (let i = 0; i < 8; i++) {
      const user = `leak${i}`;
      const token = await sign(user);
      const session = `leak-session-${i}-0123456789abcdef`;
      secrets.push(session);
      // Half as the client core does it (token and session as subprotocols), half with the header.
      if (i % 2 === 0) {
        const core = new ChatClient({ url: cluster.wsUrl, username: user, token, session, reconnect: false });
        cores.push(core);
        await core.connect();
        expect(core.worker).not.toBe('');
      } else {
        await open(user, { bearer: token, session });
      }
    }
    // Refused attempts log too (at debug): with a bad token, and a good one for another name.
    const statuses: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const bad = await sign(`bad${i}`, { secret: WRONG_SECRET });
      const other = await sign(`other${i}`);
      const session = `refused-session-${i}-0123456789`;
      secrets.push(session);
      statuses.push((await refusal(`bad${i}`, { token: bad }).catch(() => ({ status: 101 }))).status);
      statuses.push((await refusal(`mallory${i}`, { token: other, session }).catch(() => ({ status: 101 }))).status);
    }
    // Let PM2 and nginx flush what they write.
    await new Promise((r) => setTimeout(r, 1500));

    const logs = path.join(cluster.runDir, 'logs');
    const errorLog = readFileSync(path.join(logs, 'nginx-error.log'), 'utf8');
    // The fault is reproduced: nginx wrote the request lines of handshakes it could not pass on.
    expect(errorLog).toMatch(/connect\(\) failed .* request: "GET \/ws\?username=leak\d/);
    const root = path.dirname(cluster.runDir); // the run directory and PM2_HOME
    const checked = files(root).filter((f) => !f.endsWith('.sock') && !f.endsWith('.pid'));
    expect(checked.some((f) => f.endsWith('nginx-access.log'))).toBe(true);
    // The workers' own secret too: PM2 holds it in its apps' environment, but must not write it out.
    secrets.push(SECRET);
    const leaks: string[] = [];
    let bytes = 0;
    for (const file of checked) {
      const text = readFileSync(file).toString('latin1');
      bytes += text.length;
      for (const s of secrets) {
        // A JWT's signature alone is as good as a leak of the token: look for each part.
        const parts = s.includes('.') ? s.split('.').filter((p) => p.length > 20 && p !== s.split('.')[0]) : [s];
        if (parts.some((p) => text.includes(p))) leaks.push(`${path.relative(root, file)}: ${s.slice(0, 24)}…`);
      }
    }
    console.log(`credentials e2e: ${checked.length} files, ${bytes} bytes searched for ${secrets.length} secrets; nginx error log ${errorLog.split('\n').filter(Boolean).length} lines`);
    expect(leaks).toEqual([]);
    expect(statuses).toEqual([401, 403, 401, 403, 401, 403, 401, 403]);
    // The workers logged at debug, refusals included (with their reason and the name asked for).
    expect(readFileSync(path.join(logs, 'worker.out.log'), 'utf8')).toContain('upgrade refused: invalid token');
  }, 120_000);
});
