/**
 * The worker's per-address limits without servers: which address a request is counted under,
 * the handshake token bucket and its bounded memory, the connection counts, their configuration.
 */
import { describe, expect, it } from 'vitest';
import { AddressConnections, clientAddress, HandshakeBuckets, normalizeAddress, TrustedProxies } from '../../src/address-limits';
import { ConfigError, loadConfig } from '../../src/config';

describe('clientAddress', () => {
  const local = new TrustedProxies(['127.0.0.1', '::1']);

  it('is the peer when the peer is not a trusted proxy, whatever X-Forwarded-For says', () => {
    expect(clientAddress('127.0.0.4', '203.0.113.7', local)).toBe('127.0.0.4');
    expect(clientAddress('198.51.100.2', undefined, local)).toBe('198.51.100.2');
  });

  it('is the nearest untrusted hop of X-Forwarded-For behind a trusted proxy', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.7', local)).toBe('203.0.113.7');
    expect(clientAddress('127.0.0.1', 'spoofed, 198.51.100.1, 203.0.113.7', local)).toBe('203.0.113.7');
    expect(clientAddress('::1', '2001:db8::5', local)).toBe('2001:db8::5');
    // Node joins repeated headers; an array is read the same way.
    expect(clientAddress('127.0.0.1', ['198.51.100.1', '203.0.113.7'], local)).toBe('203.0.113.7');
  });

  it('walks through a chain of trusted proxies, and stops at an entry that is not an address', () => {
    const chain = new TrustedProxies(['127.0.0.1', '10.0.0.0/8']);
    expect(clientAddress('127.0.0.1', '203.0.113.7, 10.1.2.3, 10.9.9.9', chain)).toBe('203.0.113.7');
    expect(clientAddress('127.0.0.1', '10.1.2.3', chain)).toBe('10.1.2.3');
    expect(clientAddress('127.0.0.1', '203.0.113.7, garbage, 10.1.2.3', chain)).toBe('10.1.2.3');
    expect(clientAddress('127.0.0.1', 'garbage', chain)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '', chain)).toBe('127.0.0.1');
  });

  it('counts an IPv4 client of a dual-stack socket as its IPv4 address', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('2001:DB8::1')).toBe('2001:db8::1');
    expect(clientAddress('::ffff:127.0.0.1', '::ffff:203.0.113.7', local)).toBe('203.0.113.7');
  });

  it('trusts subnets of either family, and single addresses exactly', () => {
    const t = new TrustedProxies(['10.0.0.0/8', 'fd00::/8', '192.0.2.1']);
    expect([t.has('10.200.3.4'), t.has('11.0.0.1'), t.has('fd12::1'), t.has('fe80::1'), t.has('192.0.2.1'), t.has('192.0.2.2')]).toEqual([
      true, false, true, false, true, false,
    ]);
    expect(t.has('not an address')).toBe(false);
    // One IPv6 address, however it is written.
    const six = new TrustedProxies(['::1', '2001:db8:0:0::7']);
    expect([six.has('::1'), six.has('0:0:0:0:0:0:0:1'), six.has('2001:db8::7'), six.has('2001:db8::8'), six.has('127.0.0.1')]).toEqual([true, true, true, false, false]);
  });

  it('trusts nobody with an empty list', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.7', new TrustedProxies([]))).toBe('127.0.0.1');
  });

  it('rejects entries that are not addresses or subnets, naming them', () => {
    expect(() => new TrustedProxies(['localhost'])).toThrow('"localhost" is not an IP address or subnet');
    expect(() => new TrustedProxies(['10.0.0.0/33'])).toThrow('bad prefix length');
    expect(() => new TrustedProxies(['fd00::/129'])).toThrow('bad prefix length');
    expect(() => new TrustedProxies(['10.0.0.0/x'])).toThrow('bad prefix length');
  });
});

describe('HandshakeBuckets', () => {
  it('allows a burst, then the average rate', () => {
    let now = 0;
    const b = new HandshakeBuckets(2, 5, 100, () => now);
    const first = Array.from({ length: 7 }, () => b.take('a'));
    expect(first).toEqual([true, true, true, true, true, false, false]);
    expect(b.take('b')).toBe(true); // another address has its own bucket
    now += 500; // one token back
    expect(b.take('a')).toBe(true);
    expect(b.take('a')).toBe(false);
    now += 10_000; // full again, never more than the burst
    expect(Array.from({ length: 6 }, () => b.take('a')).filter(Boolean)).toHaveLength(5);
  });

  it('forgets addresses once their bucket would be full again, so memory stays bounded', () => {
    let now = 0;
    // Refilled after 5 / 2 = 2.5 s.
    const b = new HandshakeBuckets(2, 5, 1_000_000, () => now);
    for (let i = 0; i < 50_000; i++) {
      b.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      now += 0.1; // 10,000 new addresses a second
    }
    // At 10,000 a second and 2.5 s to refill, about 25,000 are remembered, never all 50,000.
    expect(b.size).toBeLessThanOrEqual(25_001);
    expect(b.size).toBeGreaterThan(20_000);
    now += 2_500;
    b.take('one more');
    expect(b.size).toBe(1);
  });

  it('holds at most maxAddresses, dropping the idlest', () => {
    const now = 0;
    const b = new HandshakeBuckets(1, 1, 3, () => now);
    for (const a of ['a', 'b', 'c', 'd']) expect(b.take(a)).toBe(true);
    expect(b.size).toBe(3);
    // 'a' was the idlest and is gone: it starts afresh; 'd' is remembered and empty.
    expect(b.take('d')).toBe(false);
    expect(b.take('a')).toBe(true);
  });
});

describe('AddressConnections', () => {
  it('counts up to max per address and forgets an address at zero', () => {
    const c = new AddressConnections(2);
    expect([c.tryAdd('a'), c.tryAdd('a'), c.tryAdd('a')]).toEqual([true, true, false]);
    expect(c.count('a')).toBe(2);
    expect(c.tryAdd('b')).toBe(true);
    c.release('a');
    expect(c.tryAdd('a')).toBe(true);
    c.release('a');
    c.release('a');
    c.release('a'); // one release too many changes nothing
    expect(c.count('a')).toBe(0);
    expect(c.size).toBe(1);
  });
});

describe('configuration of the worker\'s per-address limits', () => {
  it('defaults: 1000 connections, 50 handshakes a second with bursts of 100, loopback proxies trusted', () => {
    const c = loadConfig({ env: {}, args: [] });
    expect(c.limits).toMatchObject({ maxConnectionsPerAddress: 1000, handshakeRatePerSec: 50, handshakeBurst: 100, trustedProxies: ['127.0.0.1', '::1'] });
  });

  it('reads TRUSTED_PROXIES as a comma-separated list, empty meaning none', () => {
    expect(loadConfig({ env: { TRUSTED_PROXIES: ' 10.0.0.0/8 , fd00::1' }, args: [] }).limits.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::1']);
    expect(loadConfig({ env: { TRUSTED_PROXIES: '' }, args: [] }).limits.trustedProxies).toEqual([]);
    expect(loadConfig({ env: { MAX_CONNECTIONS_PER_ADDRESS: '0', HANDSHAKE_RATE_PER_SEC: '0' }, args: [] }).limits).toMatchObject({
      maxConnectionsPerAddress: 0,
      handshakeRatePerSec: 0,
    });
  });

  it('names a bad value', () => {
    expect(() => loadConfig({ env: { TRUSTED_PROXIES: '10.0.0.1,nginx' }, args: [] })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { TRUSTED_PROXIES: '10.0.0.1,nginx' }, args: [] })).toThrow(/limits\.trustedProxies: "nginx" is not an IP address/);
    expect(() => loadConfig({ env: { MAX_CONNECTIONS_PER_ADDRESS: '-1' }, args: [] })).toThrow(/limits\.maxConnectionsPerAddress/);
    expect(() => loadConfig({ env: { HANDSHAKE_BURST: '0' }, args: [] })).toThrow(/limits\.handshakeBurst/);
  });
});
