/**
 * The benchmark's systems under test (loadtest/bench/systems.ts): each starts, lets clients that
 * speak its dialect into one room across its processes, delivers a message to everyone but the
 * sender exactly once, lists its live processes with their roles, and stops every one of them.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSystem, SYSTEMS, type RunningSystem, type SystemName } from '../../loadtest/bench/systems';

const ROOM = 'bench';

/** A client of either dialect that records the raw frames it receives. */
class BenchClient {
  readonly frames: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly ws: WebSocket,
    readonly user: string,
    private readonly system: RunningSystem,
  ) {
    ws.on('message', (data) => {
      const text = data.toString();
      // Engine.IO: answer the open packet by joining the main namespace, and every ping with a pong.
      if (system.dialect === 'socketio' && text.startsWith('0{')) ws.send('40');
      if (system.dialect === 'socketio' && text === '2') ws.send('3');
      this.frames.push(text);
      for (const w of [...this.waiters]) w();
    });
    ws.on('error', () => undefined);
  }

  send(text: string): void {
    this.ws.send(this.system.dialect === 'socketio' ? `42${JSON.stringify(['message', text])}` : JSON.stringify({ type: 'message', text }));
  }

  /** Chat messages received with this text. */
  received(text: string): number {
    return this.frames.filter((f) => {
      if (this.system.dialect === 'socketio') return f.startsWith('42["message"') && JSON.parse(f.slice(2))[1].text === text;
      return f.startsWith('{"type":"message"') && JSON.parse(f).text === text;
    }).length;
  }

  waitFor(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.user}: timed out waiting for ${what}; frames ${JSON.stringify(this.frames.slice(-6))}`));
      }, timeoutMs);
      const check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** Connects client number `i` the way the harness does (endpoints[i % n]) and waits until it is in the room. */
async function join(system: RunningSystem, i: number, user: string): Promise<BenchClient> {
  const ep = system.endpoints[i % system.endpoints.length];
  const base = `ws://${ep.host}:${ep.port}${ep.path}`;
  const ws =
    system.dialect === 'socketio'
      ? new WebSocket(`${base}?EIO=4&transport=websocket&username=${user}&room=${ROOM}`)
      : new WebSocket(`${base}?username=${user}&room=${ROOM}`, ['chatfabric.v1']);
  const client = new BenchClient(ws, user, system);
  await client.waitFor(() => client.frames.some((f) => f.startsWith(system.readyPrefix)), `its ready frame ${system.readyPrefix}`, 10_000);
  return client;
}

/** Alive and not a zombie (an exited process whose parent has not reaped it yet). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function roleCounts(procs: { role: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of procs) counts[p.role] = (counts[p.role] ?? 0) + 1;
  return counts;
}

const EXPECTED_ROLES: Partial<Record<SystemName, Record<string, number>>> = {
  socketio: { server: 2, redis: 1 },
  'ws-nats': { server: 2, nats: 1 },
  ws: { server: 1 },
  // pm2: the daemon, the cluster master. nginx (the master and its workers, as many as
  // scripts/cluster.js sizes for the machine) is checked apart.
  'chatfabric-nginx': { pm2: 1, worker: 2, nats: 1, redis: 1 },
};

let running: RunningSystem | null = null;
let clients: BenchClient[] = [];

afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await running?.stop();
  running = null;
});

describe('benchmark systems', () => {
  it('lists all five in report order', () => {
    expect(SYSTEMS).toEqual(['chatfabric', 'chatfabric-nginx', 'socketio', 'ws-nats', 'ws']);
  });

  it.each(['socketio', 'ws-nats', 'ws', 'chatfabric-nginx'] as SystemName[])(
    '%s: one message reaches the two others exactly once, across processes; stop() ends every process',
    async (name) => {
      const system = (running = await startSystem(name));
      expect(system.name).toBe(name);
      expect(system.label.startsWith(`${name}: `)).toBe(true);
      expect(system.endpoints.length).toBe(name === 'ws' || name === 'chatfabric-nginx' ? 1 : 2);

      // Clients 0 and 2 share a process, client 1 is on the other one (on 2-process systems).
      clients = [await join(system, 0, 'alice'), await join(system, 1, 'bob'), await join(system, 2, 'carol')];
      const [sender, ...others] = clients;
      sender.send('hello');
      for (const c of others) await c.waitFor(() => c.received('hello') > 0, '"hello"');
      // One sender's messages arrive in order, so once the fence is in, any copy of "hello" is too.
      sender.send('fence');
      for (const c of others) await c.waitFor(() => c.received('fence') > 0, '"fence"');
      for (const c of others) expect(c.received('hello'), c.user).toBe(1);
      expect(sender.received('hello') + sender.received('fence')).toBe(0);

      const procs = await system.processes();
      const { nginx, ...rest } = roleCounts(procs);
      expect(rest).toEqual(EXPECTED_ROLES[name]);
      if (name === 'chatfabric-nginx') expect(nginx).toBeGreaterThanOrEqual(2);
      else expect(nginx).toBeUndefined();
      for (const p of procs) expect(alive(p.pid), `${p.role} ${p.pid}`).toBe(true);

      if (system.reload) {
        for (const c of clients) c.close();
        clients = [];
        const workers = procs.filter((p) => p.role === 'worker').map((p) => p.pid);
        await system.reload();
        const after = (await system.processes()).filter((p) => p.role === 'worker' && alive(p.pid)).map((p) => p.pid);
        expect(after.filter((pid) => !workers.includes(pid)).length).toBe(2);
        clients = [await join(system, 0, 'dave')];
      }

      for (const c of clients) c.close();
      clients = [];
      const all = await system.processes();
      await system.stop();
      await system.stop();
      expect(all.filter((p) => alive(p.pid))).toEqual([]);
      expect(await system.processes()).toEqual([]);
    },
    90_000,
  );
});
