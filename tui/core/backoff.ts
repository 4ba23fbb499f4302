/**
 * Reconnect delays: exponential backoff with full jitter (a uniformly random delay between 0 and
 * min(cap, base * 2^attempt)), so a thousand clients dropped at once by a reload spread their
 * reconnects over the whole window instead of arriving together.
 */
export interface BackoffOptions {
  /** First window, in ms (default 250). */
  baseMs?: number;
  /** Largest window, in ms (default 10000). */
  capMs?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 250;
  const cap = opts.capMs ?? 10_000;
  const window = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor((opts.random ?? Math.random)() * window);
}
