/**
 * Steady chat traffic for the fault tests, in both dialects, with a timestamped record of what
 * every user saw: deliveries, error frames, closes, refused connects and leave notices. Extended
 * clients are the project's client core (tui/core: session token, reconnect with backoff,
 * resume and dedupe), as the terminal client uses it; original-dialect clients are plain
 * sockets that, like the Go chatroom's clients, do not reconnect. From the record a test reads
 * what was lost, what was doubled and when delivery came back.
 */
import { ChatClient } from '../../tui/core/client';
import { connect, type Frame, type TestClient } from './client';
import { waitUntil } from './servers';

export interface ChatLoadOptions {
  /** Where the extended clients connect (nginx). */
  url: string;
  /** Where each original-dialect client connects; round robin, so they can be put on each worker. */
  legacyUrls: string[];
  room: string;
  prefix: string;
  v1: number;
  legacy: number;
  /** Mean pause between two messages of one client (default 300 ms, well under the rate limit). */
  intervalMs?: number;
}

export interface Delivery {
  t: number;
  to: string;
  from: string;
  id: number | null;
  text: string;
}

export interface Sent {
  t: number;
  user: string;
  text: string;
  /** `acked` with an id, `unstored` (acked without an id: not in history), `error:<code>` or `failed:<reason>` */
  outcome: string;
  id: number | null;
}

export interface Seen {
  t: number;
  user: string;
  what: string;
}

export interface ChatLoad {
  /** The room everyone is in. */
  room: string;
  v1: ChatClient[];
  legacy: TestClient[];
  /** Every chat message shown to a user (after the client core's dedupe). */
  deliveries: Delivery[];
  sent: Sent[];
  /** Error frames (`error`, or the original dialect's system message with a code). */
  errors: Seen[];
  closes: Seen[];
  /** Leave notices: `<who left>/<reason>` as seen by `user`. */
  leaves: Seen[];
  /** Join notices: `<who joined>` as seen by `user`. */
  joins: Seen[];
  /** Message ids the server sent a v1 client more than once (the client dropped the repeats). */
  resent(): number;
  /** Messages a user was shown more than once (told apart by their text, which is unique). */
  duplicates(): number;
  /** Ids that reached history (acked, or seen with an id), with their sender and text. */
  stored(): Map<number, { from: string; text: string }>;
  /**
   * Per user, the stored ids of the others it was not shown, with or without the id: a write
   * whose reply Redis never sent reaches history although the message went out live without one.
   * `exclude` leaves users out.
   */
  missing(exclude?: (user: string) => boolean): Map<string, number[]>;
  /** Waits until `missing()` is empty; throws with the details otherwise. */
  complete(timeoutMs: number, exclude?: (user: string) => boolean): Promise<void>;
  /** The first delivery, at or after `t`, of a message sent at or after `t` (only stored ones with `stored`). */
  firstDeliveryAfter(t: number, stored?: boolean): Delivery | undefined;
  /** When the load's client started sending `text` (undefined for texts the load did not send). */
  sentAt(text: string): number | undefined;
  /** Cuts a client's connection as a network failure would (no close frame); the client core reconnects. */
  drop(c: ChatClient): void;
  stop(): Promise<void>;
  close(): void;
}

const now = () => performance.now();

/** What an outage test saw while one embedded server of the cluster was stopped. */
export interface Outage {
  downAt: number;
  backAt: number;
  /** The extended client whose network dropped during the outage (it retries, then resumes). */
  dropped: ChatClient;
  /** Each newcomer's fate, one every 3 s: 'accepted' or the refusal. */
  arrivals: string[];
}

/**
 * Stops the cluster's embedded `app` for `ms` under the load: waits until every worker reports
 * not ready, drops one user's connection, tries a newcomer every 3 s, then starts `app` again.
 * `whileDown` runs last thing before the restart, for what a test reads of the outage itself
 * (it is handed the dropped client).
 */
export async function stopFor(
  cluster: { name: string; workerPorts: number[]; wsUrl: string; pm2: (...args: string[]) => Promise<string> },
  load: ChatLoad,
  app: 'nats' | 'redis',
  ms: number,
  whileDown: (dropped: ChatClient) => void = () => undefined,
): Promise<Outage> {
  const downAt = performance.now();
  await cluster.pm2('stop', `${cluster.name}-${app}`);
  for (const p of cluster.workerPorts) await waitUntil(async () => !(await workerReady(p)), 15_000, `worker ${p} to notice`);
  const dropped = load.v1[load.v1.length - 1];
  load.drop(dropped);
  // Newcomers are refused before the upgrade (by nginx with 502 once it counts both workers as failed).
  const arrivals: string[] = [];
  while (performance.now() - downAt < ms) {
    arrivals.push(await connect(cluster.wsUrl, `late${arrivals.length}`, { v1: true }).then((c) => (c.terminate(), 'accepted'), (e: Error) => e.message));
    await new Promise((r) => setTimeout(r, 3000));
  }
  whileDown(dropped);
  await cluster.pm2('start', `${cluster.name}-${app}`);
  return { downAt, backAt: performance.now(), dropped, arrivals };
}

/** A worker's own /readyz answers 200. */
export const workerReady = async (port: number): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;

/**
 * The outage tests' load on a cluster: six extended clients through nginx, spread over both
 * workers, one original-dialect client straight to each worker, and 20 messages stored before
 * the fault begins.
 */
export async function startOutageLoad(cluster: { wsUrl: string; workerPorts: number[] }, room: string, prefix: string): Promise<ChatLoad> {
  // nginx hashes the names onto workers whose ports change every run: six names all land on one
  // worker in about 3 % of runs. Other names are tried then, in another room (the first one's
  // history would count as messages the original-dialect users, who get no history, never saw).
  for (const suffix of ['', 'b', 'c', 'd']) {
    const load = await startChatLoad({ url: cluster.wsUrl, legacyUrls: cluster.workerPorts.map((p) => `ws://127.0.0.1:${p}/ws`), room: room + suffix, prefix: prefix + suffix, v1: 6, legacy: 2 });
    if (new Set(load.v1.map((c) => c.worker)).size === 2) {
      await waitUntil(() => load.stored().size >= 20, 20_000, 'traffic before the outage');
      return load;
    }
    load.close();
  }
  throw new Error('four sets of six names all landed on one worker');
}

export async function startChatLoad(opts: ChatLoadOptions): Promise<ChatLoad> {
  const deliveries: Delivery[] = [];
  const sent: Sent[] = [];
  const errors: Seen[] = [];
  const closes: Seen[] = [];
  const leaves: Seen[] = [];
  const joins: Seen[] = [];
  const sentAt = new Map<string, number>();
  const raw = new Map<string, Map<number, number>>();
  const shown = new Map<string, Map<string, number>>();
  const count = <K>(m: Map<string, Map<K, number>>, user: string, key: K) => {
    let per = m.get(user);
    if (!per) m.set(user, (per = new Map()));
    per.set(key, (per.get(key) ?? 0) + 1);
  };
  const deliver = (to: string, f: { from: string; id: number | null; text: string }) => {
    deliveries.push({ t: now(), to, from: f.from, id: f.id, text: f.text });
    count(shown, to, f.text);
  };
  const interval = opts.intervalMs ?? 300;

  const v1: ChatClient[] = [];
  for (let i = 0; i < opts.v1; i++) {
    const user = `${opts.prefix}v${i}`;
    const c = new ChatClient({ url: opts.url, username: user, room: opts.room, backoff: { baseMs: 100, capMs: 2000 } });
    // What the server sent, before the client core drops repeats: chat frames and history replays.
    const onFrame = (c as unknown as { onFrame(f: Frame): void }).onFrame.bind(c);
    (c as unknown as { onFrame(f: Frame): void }).onFrame = (f: Frame) => {
      if (f.type === 'message' && typeof f.id === 'number') count(raw, user, f.id);
      if (f.type === 'history') for (const m of f.messages) if (typeof m.id === 'number') count(raw, user, m.id);
      if (f.type === 'error' && f.ref === undefined) errors.push({ t: now(), user, what: `${f.code}: ${f.message}` });
      if (f.type === 'user_left') leaves.push({ t: now(), user, what: `${f.user}/${f.reason}` });
      if (f.type === 'presence') for (const l of f.left) leaves.push({ t: now(), user, what: `${l.user}/${l.reason}` });
      if (f.type === 'user_joined') joins.push({ t: now(), user, what: f.user });
      if (f.type === 'presence') for (const j of f.joined) joins.push({ t: now(), user, what: j });
      onFrame(f);
    };
    c.on('message', (m, meta) => {
      if (!meta.own) deliver(user, m);
    });
    c.on('closed', (code: number, reason: string) => closes.push({ t: now(), user, what: `${code}${reason ? ` ${reason}` : ''}` }));
    await c.connect();
    v1.push(c);
  }
  const legacy: TestClient[] = [];
  for (let i = 0; i < opts.legacy; i++) {
    const user = `${opts.prefix}l${i}`;
    const c = await connect(opts.legacyUrls[i % opts.legacyUrls.length], user, { room: opts.room });
    await c.waitFor((f) => f.type === 'system_message' && f.event === 'user_joined' && f.user === user, { what: `${user}'s join notice` });
    c.ws.on('message', (data) => {
      let f: Frame;
      try {
        f = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (f.type === 'chat_message') {
        if (typeof f.id === 'number') count(raw, user, f.id);
        deliver(user, { from: f.sender, id: f.id ?? null, text: f.content });
      } else if (f.type === 'system_message') {
        if (f.code) errors.push({ t: now(), user, what: `${f.code}: ${f.content}` });
        if (f.event === 'user_left') leaves.push({ t: now(), user, what: `${f.user}/left` });
        if (f.event === 'users_left') for (const u of f.users) leaves.push({ t: now(), user, what: `${u}/left` });
        if (f.event === 'user_joined') joins.push({ t: now(), user, what: f.user });
        if (f.event === 'users_joined') for (const u of f.users) joins.push({ t: now(), user, what: u });
      }
    });
    void c.closed.then((code) => closes.push({ t: now(), user, what: `${code}${c.closeReason ? ` ${c.closeReason}` : ''}` }));
    legacy.push(c);
  }

  let sending = true;
  const pause = () => new Promise((r) => setTimeout(r, interval * (0.5 + Math.random())));
  const loops = [
    ...v1.map(async (c) => {
      for (let k = 0; sending; k++) {
        const text = `${c.username}-${k}`;
        const t = now();
        sentAt.set(text, t);
        try {
          const m = await c.say(text);
          sent.push({ t, user: c.username, text, outcome: m.id === null ? 'unstored' : 'acked', id: m.id });
        } catch (err) {
          const code = (err as { code?: string }).code;
          sent.push({ t, user: c.username, text, outcome: code ? `error:${code}` : `failed:${(err as Error).message}`, id: null });
        }
        await pause();
      }
    }),
    ...legacy.map(async (c) => {
      for (let k = 0; sending && c.closeCode === null; k++) {
        const text = `${c.username}-${k}`;
        const t = now();
        sentAt.set(text, t);
        c.send({ type: 'chat_message', content: text });
        // The original dialect has no ack: the outcome is read from what the others were shown.
        sent.push({ t, user: c.username, text, outcome: 'unacked', id: null });
        await pause();
      }
    }),
  ];

  const stored = () => {
    const out = new Map<number, { from: string; text: string }>();
    for (const s of sent) if (s.id !== null) out.set(s.id, { from: s.user, text: s.text });
    for (const d of deliveries) if (d.id !== null) out.set(d.id, { from: d.from, text: d.text });
    return out;
  };
  const users = () => [...v1.map((c) => c.username), ...legacy.map((c) => c.username)];
  const missing = (exclude?: (user: string) => boolean) => {
    const all = stored();
    const out = new Map<string, number[]>();
    for (const user of users()) {
      if (exclude?.(user)) continue;
      const got = shown.get(user) ?? new Map();
      const ids = [...all].filter(([, m]) => m.from !== user && !got.has(m.text)).map(([id]) => id).sort((a, b) => a - b);
      if (ids.length) out.set(user, ids);
    }
    return out;
  };
  const sum = <K>(m: Map<string, Map<K, number>>) => {
    let n = 0;
    for (const per of m.values()) for (const k of per.values()) if (k > 1) n++;
    return n;
  };

  return {
    room: opts.room,
    v1,
    legacy,
    deliveries,
    sent,
    errors,
    closes,
    leaves,
    joins,
    resent: () => sum(raw),
    duplicates: () => sum(shown),
    stored,
    missing,
    async complete(timeoutMs, exclude) {
      await waitUntil(() => missing(exclude).size === 0, timeoutMs, 'every stored message at every user').catch((err) => {
        const lost = [...missing(exclude)];
        const detail = lost.map(([u, ids]) => `${u} misses ${ids.length} (${ids.slice(0, 12).join(',')})`);
        const first = new Set(lost.flatMap(([, ids]) => ids.slice(0, 3)));
        const how = [
          ...sent.filter((s) => s.id !== null && first.has(s.id)).map((s) => `${s.id} acked to ${s.user} (${s.text}) sent at ${s.t.toFixed(0)} ms`),
          ...deliveries.filter((d) => d.id !== null && first.has(d.id)).map((d) => `${d.id} shown to ${d.to} (${d.text}) at ${d.t.toFixed(0)} ms`),
        ];
        throw new Error(
          `${(err as Error).message}: ${detail.join('; ')}\n${how.join('; ')}\ncloses: ${closes.map((c) => `${c.user}:${c.what}@${c.t.toFixed(0)}`).join(' ')}`,
        );
      });
    },
    sentAt: (text) => sentAt.get(text),
    firstDeliveryAfter(t, onlyStored) {
      return deliveries.find((d) => d.t >= t && (sentAt.get(d.text) ?? -1) >= t && (!onlyStored || d.id !== null));
    },
    drop(c) {
      (c as unknown as { ws: { terminate(): void } | null }).ws?.terminate();
    },
    async stop() {
      sending = false;
      await Promise.all(loops);
    },
    close() {
      sending = false;
      for (const c of v1) c.close();
      for (const c of legacy) void c.close();
    },
  };
}

/** How often each key occurs, for a short report line. */
export function tally<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of items) out[key(s)] = (out[key(s)] ?? 0) + 1;
  return out;
}
