/**
 * The benchmark's own instruments: if the histogram, the marker or the minimal WebSocket client
 * were wrong, every figure the benchmark prints would be wrong with them.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { chatFrame, handshakePath, handshakeProtocol, markedText, readMarker, startsWith } from '../../loadtest/bench/dialect';
import { Histogram } from '../../loadtest/bench/histogram';
import { WireSocket } from '../../loadtest/bench/wire';

describe('Histogram', () => {
  it('gives percentiles within 2% of the exact ones', () => {
    const h = new Histogram();
    const xs: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const v = Math.floor(Math.exp(Math.random() * Math.log(5e6))); // 1 µs .. 5 s, log-uniform
      xs.push(v);
      h.add(v);
    }
    xs.sort((a, b) => a - b);
    for (const p of [50, 90, 99, 99.9]) {
      const exact = xs[Math.ceil((p / 100) * xs.length) - 1];
      const got = h.percentile(p);
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(Math.max(1, exact * 0.02));
    }
    expect(h.total).toBe(20000);
  });

  it('merges counts as if the values had been added to one', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 1; i <= 1000; i++) (i % 2 ? a : b).add(i * 37);
    const both = new Histogram(a.counts);
    both.merge(b.counts);
    expect(both.total).toBe(1000);
    expect(both.percentile(50)).toBeGreaterThan(500 * 37 * 0.98);
    expect(both.percentile(50)).toBeLessThan(500 * 37 * 1.02);
    expect(both.countAbove(900 * 37)).toBeGreaterThan(80);
    expect(both.countAbove(900 * 37)).toBeLessThan(110);
    expect(new Histogram().percentile(50)).toBeNaN();
  });
});

describe('benchmark marker', () => {
  it('is found and read in place inside a server frame of either dialect', () => {
    const text = markedText(42, 1234567890123);
    for (const frame of [
      `{"type":"message","room":"fanout","from":"u1","text":"${text}","ts":"2026-12-01T00:00:00.000Z","id":7}`,
      `42["message",{"room":"fanout","from":"u1","text":"${text}","ts":1764547200000}]`,
    ]) {
      const buf = Buffer.from(`xx${frame}yy`);
      expect(readMarker(buf, 2, buf.length - 2)).toEqual([42, 1234567890123]);
    }
    // Outside the frame's bounds it does not count, nor does a truncated marker.
    const buf = Buffer.from(`{"type":"user_joined"}${text}`);
    expect(readMarker(buf, 0, 22)).toBeNull();
    expect(readMarker(Buffer.from(text.slice(0, 10)), 0, 10)).toBeNull();
  });

  it('builds frames and handshakes the servers accept', () => {
    expect(JSON.parse(chatFrame('chatfabric', 'hi'))).toEqual({ type: 'message', text: 'hi' });
    expect(JSON.parse(chatFrame('socketio', 'hi').slice(2))).toEqual(['message', 'hi']);
    expect(handshakePath('chatfabric', '/ws', 'u 1', 'r')).toBe('/ws?username=u%201&room=r');
    expect(handshakePath('socketio', '/socket.io/', 'u', 'r')).toBe('/socket.io/?EIO=4&transport=websocket&username=u&room=r');
    // A resuming client's session token travels as a subprotocol value, never in the path.
    expect(handshakeProtocol('chatfabric')).toBe('chatfabric.v1');
    expect(handshakeProtocol('chatfabric', 'bench0123456789ab')).toBe('chatfabric.v1, chatfabric.session.bench0123456789ab');
    expect(handshakeProtocol('socketio', 'bench0123456789ab')).toBeUndefined();
    const b = Buffer.from('{"type":"history",...}');
    expect(startsWith(b, 0, b.length, Buffer.from('{"type":"history"'))).toBe(true);
    expect(startsWith(b, 1, b.length, Buffer.from('{"type":"history"'))).toBe(false);
  });
});

describe('WireSocket', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  function server(onConnection: (ws: import('ws').WebSocket) => void): Promise<number> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('chatfabric.v1') ? 'chatfabric.v1' : false) });
    wss.on('connection', onConnection);
    close = () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    });
    return new Promise((resolve) => wss.once('listening', () => resolve((wss.address() as net.AddressInfo).port)));
  }

  it('exchanges text frames of every length class with a real ws server, and answers pings', async () => {
    const got: string[] = [];
    let echoed: string[] = [];
    let pong = false;
    const port = await server((ws) => {
      ws.on('message', (d) => echoed.push(d.toString()));
      ws.on('pong', () => (pong = true));
      ws.ping('p');
      for (const n of [5, 200, 70000]) ws.send('x'.repeat(n));
    });
    echoed = [];
    let opened = false;
    const sock = new WireSocket(
      { host: '127.0.0.1', port, path: '/ws?username=a', subprotocol: 'chatfabric.v1', localAddress: '127.0.0.3' },
      {
        onOpen: () => (opened = true),
        onText: (buf, s, e) => got.push(buf.toString('utf8', s, e)),
        onEnd: () => undefined,
      },
    );
    await expect.poll(() => got.length, { timeout: 5000 }).toBe(3);
    expect(opened).toBe(true);
    expect(got.map((s) => s.length)).toEqual([5, 200, 70000]);
    for (const n of [3, 300, 66000]) sock.send('y'.repeat(n));
    await expect.poll(() => echoed.map((s) => s.length), { timeout: 5000 }).toEqual([3, 300, 66000]);
    await expect.poll(() => pong, { timeout: 5000 }).toBe(true);
    sock.close();
  });

  it('reports a refused upgrade with its HTTP status and a close frame with its code', async () => {
    const raw = net.createServer((s) => s.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nfull\n'));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
    const rawPort = (raw.address() as net.AddressInfo).port;
    const reasons: string[] = [];
    new WireSocket({ host: '127.0.0.1', port: rawPort, path: '/ws' }, { onOpen() {}, onText() {}, onEnd: (r) => reasons.push(r) });
    await expect.poll(() => reasons, { timeout: 5000 }).toEqual(['http_503']);
    raw.close();

    const port = await server((ws) => ws.close(4003, 'too slow'));
    new WireSocket({ host: '127.0.0.1', port, path: '/ws' }, { onOpen() {}, onText() {}, onEnd: (r) => reasons.push(r) });
    await expect.poll(() => reasons[1], { timeout: 5000 }).toBe('close_4003');
  });

  it('reassembles frames split across TCP chunks at every byte', async () => {
    const frames = ['a', 'b'.repeat(130), 'c'.repeat(70000)];
    const wire = Buffer.concat(
      frames.map((t) => {
        const p = Buffer.from(t);
        const head = p.length < 126 ? Buffer.from([0x81, p.length]) : p.length < 65536 ? Buffer.from([0x81, 126, p.length >> 8, p.length & 255]) : (() => {
          const b = Buffer.alloc(10);
          b[0] = 0x81;
          b[1] = 127;
          b.writeBigUInt64BE(BigInt(p.length), 2);
          return b;
        })();
        return Buffer.concat([head, p]);
      }),
    );
    const srv = net.createServer(async (s) => {
      s.once('data', async () => {
        s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        // Dribble the frames in uneven pieces so every header and payload boundary is crossed.
        for (let i = 0; i < wire.length; ) {
          const n = Math.min(wire.length - i, i < 200 ? 1 : 4093);
          s.write(wire.subarray(i, i + n));
          i += n;
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    const sock = new WireSocket(
      { host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, path: '/ws' },
      { onOpen() {}, onText: (b, s, e) => got.push(b.toString('utf8', s, e)), onEnd() {} },
    );
    await expect.poll(() => got.length, { timeout: 5000 }).toBe(3);
    expect(got).toEqual(frames);
    sock.destroy();
    srv.close();
  });
});
