/**
 * The harness's side of the load generators: forks N generator processes, spreads each group of
 * clients over them (client i to generator i mod N, endpoint i), splits a send rate by where the
 * ready clients are, and adds up what they report.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ActivityReply, ConnectCommand, ConnectReply, SendReply, StatsReply } from './generator';
import { Histogram } from './histogram';

class Generator {
  private seq = 0;
  private readonly waiting = new Map<number, (reply: any) => void>();
  readonly exited: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (msg: any) => {
      const done = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      done?.(msg);
    });
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.once('exit', (code) => {
      for (const done of this.waiting.values()) done({ error: `generator exited with ${code}` });
      this.waiting.clear();
    });
  }

  call<T>(op: string, args: object = {}): Promise<T> {
    const id = ++this.seq;
    if (!this.proc.connected) return Promise.reject(new Error('generator has exited'));
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply as T)));
      this.proc.send({ id, op, ...args });
    });
  }
}

/** A generator's connect command, for the whole pool: clients get their endpoint and generator here. */
export type GroupSpec = Omit<ConnectCommand, 'op' | 'clients'> & {
  clients: { username: string; room: string }[];
};

export interface ConnectResult {
  ready: number;
  readyByRoom: Map<string, number>;
  failed: Record<string, number>;
  elapsedMs: number;
  connectHist: Histogram;
}

export interface Activity {
  frames: number;
  lastFrameUs: number;
  ready: number;
  resumed: number;
  resumedAtUs: number[];
  resumeHist: Histogram;
  ends: Record<string, number>;
}

export class GeneratorPool {
  private readonly gens: Generator[];
  /** Ready clients per generator, per group: a send rate is split by these. */
  private readonly readyPerGen = new Map<string, number[]>();

  constructor(count: number) {
    const script = path.join(__dirname, 'generator.js');
    this.gens = Array.from(
      { length: count },
      (_, i) =>
        new Generator(
          fork(script, [], {
            env: { ...process.env, BENCH_GEN_INDEX: String(i) },
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            // BENCH_GEN_PROFILE=<dir>: a CPU profile of every generator, to check it is not the bottleneck.
            execArgv: process.env.BENCH_GEN_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_GEN_PROFILE] : [],
          }),
        ),
    );
  }

  get size(): number {
    return this.gens.length;
  }

  pids(): number[] {
    return this.gens.map((g) => g.proc.pid!);
  }

  async connect(spec: GroupSpec): Promise<ConnectResult> {
    const n = this.gens.length;
    const per = spec.clients.map((c, i) => ({ ...c, endpoint: i, gen: i % n }));
    const replies = await Promise.all(
      this.gens.map((g, gi) =>
        g.call<ConnectReply>('connect', {
          group: spec.group,
          dialect: spec.dialect,
          readyPrefix: spec.readyPrefix,
          endpoints: spec.endpoints,
          clients: per.filter((c) => c.gen === gi).map(({ username, room, endpoint }) => ({ username, room, endpoint })),
          // The spec's concurrency is for the whole pool.
          concurrency: Math.max(1, Math.ceil(spec.concurrency / n)),
          timeoutMs: spec.timeoutMs,
          reconnect: spec.reconnect ?? false,
        }),
      ),
    );
    this.readyPerGen.set(spec.group, replies.map((r) => r.ready));
    const readyByRoom = new Map<string, number>();
    const failed: Record<string, number> = {};
    const connectHist = new Histogram();
    for (const r of replies) {
      for (const [room, k] of Object.entries(r.readyByRoom)) readyByRoom.set(room, (readyByRoom.get(room) ?? 0) + k);
      for (const [why, k] of Object.entries(r.failed)) failed[why] = (failed[why] ?? 0) + k;
      connectHist.merge(r.connectHist);
    }
    return {
      ready: replies.reduce((a, r) => a + r.ready, 0),
      readyByRoom,
      failed,
      elapsedMs: Math.max(...replies.map((r) => r.elapsedMs)),
      connectHist,
    };
  }

  /** Sends `ratePerSec` messages a second in all, for `durationMs`, marked with `step`. */
  async send(group: string, ratePerSec: number, durationMs: number, step: number): Promise<{ sent: number; sentByRoom: Map<string, number>; elapsedMs: number }> {
    const ready = this.readyPerGen.get(group) ?? [];
    const total = ready.reduce((a, b) => a + b, 0);
    const replies = await Promise.all(
      this.gens.map((g, gi) => g.call<SendReply>('send', { group, ratePerSec: total ? (ratePerSec * (ready[gi] ?? 0)) / total : 0, durationMs, step })),
    );
    const sentByRoom = new Map<string, number>();
    for (const r of replies) for (const [room, k] of Object.entries(r.sentByRoom)) sentByRoom.set(room, (sentByRoom.get(room) ?? 0) + k);
    return { sent: replies.reduce((a, r) => a + r.sent, 0), sentByRoom, elapsedMs: Math.max(...replies.map((r) => r.elapsedMs)) };
  }

  async stats(step: number): Promise<{ received: number; hist: Histogram }> {
    const replies = await Promise.all(this.gens.map((g) => g.call<StatsReply>('stats', { step })));
    const hist = new Histogram();
    for (const r of replies) hist.merge(r.hist);
    return { received: replies.reduce((a, r) => a + r.received, 0), hist };
  }

  /** Deliveries of `step` counted so far (cheaper than stats: no histogram). */
  async received(step: number): Promise<number> {
    const replies = await Promise.all(this.gens.map((g) => g.call<{ received: number }>('received', { step })));
    return replies.reduce((a, r) => a + r.received, 0);
  }

  async activity(group?: string): Promise<Activity> {
    const replies = await Promise.all(this.gens.map((g) => g.call<ActivityReply>('activity', { group })));
    const ends: Record<string, number> = {};
    const resumeHist = new Histogram();
    for (const r of replies) {
      for (const [why, k] of Object.entries(r.ends)) ends[why] = (ends[why] ?? 0) + k;
      resumeHist.merge(r.resumeHist);
    }
    return {
      frames: replies.reduce((a, r) => a + r.frames, 0),
      lastFrameUs: Math.max(...replies.map((r) => r.lastFrameUs)),
      ready: replies.reduce((a, r) => a + r.ready, 0),
      resumed: replies.reduce((a, r) => a + r.resumed, 0),
      resumedAtUs: replies.flatMap((r) => r.resumedAtUs),
      resumeHist,
      ends,
    };
  }

  async close(group: string): Promise<void> {
    await Promise.all(this.gens.map((g) => g.call('close', { group })));
    this.readyPerGen.delete(group);
  }

  /** Stops every generator; safe to call twice. */
  async stop(): Promise<void> {
    await Promise.all(
      this.gens.map(async (g) => {
        if (g.proc.exitCode !== null || g.proc.signalCode !== null) return;
        const t = setTimeout(() => g.proc.kill('SIGKILL'), 5000);
        await g.call('exit').catch(() => undefined);
        await g.exited;
        clearTimeout(t);
      }),
    );
  }
}
