/**
 * Continuous chat traffic for the end-to-end fault tests: resuming clients (the project's client
 * core) in one room, each sending on a loop, with per-client records of what arrived. check()
 * waits until every client holds every acknowledged message of the others and counts duplicates.
 */
import { ChatClient } from '../../tui/core/client';
import { waitUntil } from './servers';

export interface Traffic {
  clients: ChatClient[];
  /** id -> sender of every acknowledged message */
  acked: Map<number, string>;
  attempts: () => number;
  /** Time from losing a connection to the next welcome, ms. */
  reconnectMs: number[];
  closes: string[];
  stop(): Promise<void>;
  /** Waits for completeness; returns the number of duplicated deliveries. */
  check(timeoutMs?: number): Promise<{ duplicates: number }>;
  close(): void;
}

export async function startTraffic(opts: { url: string; clients: number; room: string; prefix?: string }): Promise<Traffic> {
  const received = new Map<string, Map<number, number>>();
  const reconnectMs: number[] = [];
  const closes: string[] = [];
  const clients: ChatClient[] = [];
  const prefix = opts.prefix ?? 'u';
  for (let i = 0; i < opts.clients; i++) {
    const user = `${prefix}${i}`;
    const c = new ChatClient({ url: opts.url, username: user, room: opts.room, backoff: { baseMs: 100, capMs: 2000 } });
    const seen = new Map<number, number>();
    received.set(user, seen);
    c.on('message', (m, meta) => {
      if (m.id !== null && !meta.own) seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
    });
    let lostAt = 0;
    c.on('closed', (code: number, reason: string) => {
      lostAt = performance.now();
      closes.push(`${user}:${code}${reason ? `/${reason}` : ''}`);
    });
    c.on('welcome', () => {
      if (lostAt) reconnectMs.push(performance.now() - lostAt);
      lostAt = 0;
    });
    await c.connect();
    clients.push(c);
  }
  const acked = new Map<number, string>();
  let sending = true;
  let attempts = 0;
  const loops = clients.map(async (c, i) => {
    let k = 0;
    while (sending) {
      attempts++;
      try {
        const m = await c.say(`${prefix}${i}-${k++}`);
        if (m.id !== null) acked.set(m.id, `${prefix}${i}`);
      } catch {
        // not connected at that moment: not accepted, so not counted
      }
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  });
  const missing = () =>
    clients.flatMap((c, i) => {
      const user = `${prefix}${i}`;
      const seen = received.get(user)!;
      const ids = [...acked].filter(([id, from]) => from !== user && !seen.has(id)).map(([id]) => id);
      return ids.length ? [`${user} (${c.state}, after ${c.tracker.resumeAfter(opts.room)}) misses ${ids.slice(0, 10).join(',')}`] : [];
    });
  return {
    clients,
    acked,
    attempts: () => attempts,
    reconnectMs,
    closes,
    async stop() {
      sending = false;
      await Promise.all(loops);
    },
    async check(timeoutMs = 45_000) {
      await waitUntil(() => missing().length === 0, timeoutMs, 'every acknowledged message at every client').catch((err) => {
        throw new Error(`${(err as Error).message}: ${missing().join('; ')}\ncloses: ${closes.join(' ')}`);
      });
      let duplicates = 0;
      for (const seen of received.values()) for (const n of seen.values()) if (n > 1) duplicates++;
      return { duplicates };
    },
    close() {
      for (const c of clients) c.close();
    },
  };
}

export function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
}
