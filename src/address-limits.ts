/**
 * Per-address limits of the WebSocket handshake: which address a request comes from (behind a
 * trusted proxy, the one that proxy forwards), how fast one address may open connections and how
 * many it may hold open at once.
 */
import { BlockList, isIP } from 'node:net';

/**
 * The proxies whose X-Forwarded-For is believed. IPv4 addresses are looked up in a set (the
 * common case: BlockList.check costs microseconds a call); subnets, and IPv6 addresses, which
 * have several spellings, in a BlockList, only for a family that has any.
 */
export class TrustedProxies {
  private readonly addresses = new Set<string>();
  private readonly list = new BlockList();
  private readonly listed = { ipv4: false, ipv6: false };

  /** One address or subnet per entry: `10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`; throws naming a bad one. */
  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = String(raw).trim();
      const slash = entry.indexOf('/');
      const address = normalizeAddress(slash < 0 ? entry : entry.slice(0, slash));
      const family = isIP(address);
      if (family === 0) throw new Error(`"${entry}" is not an IP address or subnet`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (slash < 0) {
        this.addresses.add(address);
        if (type === 'ipv6') {
          this.list.addAddress(address, type);
          this.listed.ipv6 = true;
        }
        continue;
      }
      const bits = entry.slice(slash + 1);
      const max = family === 4 ? 32 : 128;
      if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new Error(`"${entry}" has a bad prefix length (0-${max})`);
      this.list.addSubnet(address, Number(bits), type);
      this.listed[type] = true;
    }
  }

  /** Whether a normalized address is one of the trusted proxies. */
  has(address: string): boolean {
    if (this.addresses.has(address)) return true;
    const family = isIP(address);
    if (family === 0) return false;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    return this.listed[type] && this.list.check(address, type);
  }
}

/**
 * The plain form of an address: IPv4 clients of a dual-stack socket appear as `::ffff:1.2.3.4`,
 * and must count as the same client as `1.2.3.4`.
 */
export function normalizeAddress(address: string): string {
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) return a.slice(7);
  return a;
}

/**
 * The client's address. A request from a trusted proxy is attributed to the nearest address in
 * its X-Forwarded-For that is not itself a trusted proxy: walking from the right, each hop was
 * appended by the one after it, so only hops added by trusted proxies can be believed. An entry
 * that is not an address ends the walk at the hop that delivered it. From anyone else the
 * header is ignored, or every client could name itself a fresh address per handshake.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: TrustedProxies): string {
  let address = normalizeAddress(peer ?? '');
  if (!forwardedFor || !trusted.has(address)) return address;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i].trim());
    if (isIP(hop) === 0) break;
    address = hop;
    if (!trusted.has(hop)) break;
  }
  return address;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket of handshakes per address. The map is kept in order of last use, so the
 * entries at its front are the idlest: an entry idle long enough to have refilled is the same
 * as no entry and is dropped as new handshakes arrive, and past `maxAddresses` the idlest one
 * goes (it forgets that address's recent handshakes, at worst granting it a fresh burst).
 */
export class HandshakeBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillMs: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly maxAddresses = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.refillMs = (burst / ratePerSec) * 1000;
  }

  /** Takes one handshake from the address's bucket; false when the bucket is empty. */
  take(address: string): boolean {
    const now = this.now();
    for (const [key, b] of this.buckets) {
      if (now - b.at < this.refillMs) break;
      this.buckets.delete(key);
    }
    let b = this.buckets.get(address);
    if (b) {
      this.buckets.delete(address);
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.ratePerSec) / 1000);
      b.at = now;
    } else {
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
      b = { tokens: this.burst, at: now };
    }
    this.buckets.set(address, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.buckets.size;
  }
}

/** Open connections per address; an address's entry goes when its last connection closes. */
export class AddressConnections {
  private readonly open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Counts one more connection of the address; false, counting nothing, when it holds `max`. */
  tryAdd(address: string): boolean {
    const n = this.open.get(address) ?? 0;
    if (n >= this.max) return false;
    this.open.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = this.open.get(address);
    if (n === undefined) return;
    if (n <= 1) this.open.delete(address);
    else this.open.set(address, n - 1);
  }

  count(address: string): number {
    return this.open.get(address) ?? 0;
  }

  /** Addresses with at least one open connection. */
  get size(): number {
    return this.open.size;
  }
}
