/**
 * A deliberately small WebSocket client for the load generator: one `net.Socket`, a hand-rolled
 * handshake and an in-place frame parser. It exists because a general client (ws) allocates a
 * Buffer and emits an event per message, which at 100k deliveries/s makes the generator, not the
 * server, the thing being measured. Server frames are handed to `onText` as (buffer, start, end)
 * without copying or decoding; nothing here parses JSON.
 *
 * Only what a benchmark client needs: text frames out (masked, as RFC 6455 requires of clients),
 * text frames in, pings answered, close frames recorded. No extensions, no fragmentation out.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export interface WireTarget {
  host: string;
  port: number;
  /** Path and query, e.g. `/ws?username=u1&room=r`. */
  path: string;
  subprotocol?: string;
  localAddress?: string;
}

export interface WireHandlers {
  /** The upgrade succeeded (HTTP 101). */
  onOpen(): void;
  /** A complete text frame: `buf[start, end)` is its payload. `buf` is only valid during the call. */
  onText(buf: Buffer, start: number, end: number): void;
  /**
   * The connection ended. `reason` is `close_<code>` for a close frame, `http_<status>` for a
   * refused upgrade, an errno code (`ECONNREFUSED`), or `eof` when the peer just went away.
   */
  onEnd(reason: string): void;
}

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const HEADER_END = Buffer.from('\r\n\r\n');

/** One client connection. `send` is a no-op unless open. */
export class WireSocket {
  open = false;
  private ended = false;
  private handshaken = false;
  private pending: Buffer | null = null;
  /** Payload of a fragmented message being reassembled (rare: servers here never fragment). */
  private fragments: Buffer[] | null = null;
  private readonly socket: net.Socket;

  constructor(target: WireTarget, private readonly h: WireHandlers) {
    this.socket = net.connect({ host: target.host, port: target.port, localAddress: target.localAddress });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.socket.write(
        `GET ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (target.subprotocol ? `Sec-WebSocket-Protocol: ${target.subprotocol}\r\n` : '') +
          '\r\n',
      );
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.end(err.code ?? 'error'));
    this.socket.on('close', () => this.end('eof'));
  }

  /** Sends one text frame. */
  send(text: string): void {
    if (!this.open) return;
    const payload = Buffer.from(text);
    const n = payload.length;
    const headerLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headerLen + 4 + n);
    frame[0] = 0x80 | OP_TEXT;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(n, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(n), 2);
    }
    this.writeMasked(frame, headerLen, payload);
  }

  /** Sends a close frame and ends the socket; the peer's answer is not awaited. */
  close(code = 1000): void {
    if (this.open) {
      const frame = Buffer.allocUnsafe(2 + 4 + 2);
      frame[0] = 0x80 | OP_CLOSE;
      frame[1] = 0x80 | 2;
      const body = Buffer.allocUnsafe(2);
      body.writeUInt16BE(code, 0);
      this.writeMasked(frame, 2, body);
    }
    this.open = false;
    this.socket.end();
    // A peer that never answers must not keep the descriptor.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Drops the connection without a close frame. */
  destroy(): void {
    this.socket.destroy();
  }

  private writeMasked(frame: Buffer, headerLen: number, payload: Buffer): void {
    const mask = randomBytes(4);
    mask.copy(frame, headerLen);
    const off = headerLen + 4;
    for (let i = 0; i < payload.length; i++) frame[off + i] = payload[i] ^ mask[i & 3];
    this.socket.write(frame);
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.open = false;
    this.socket.destroy();
    this.h.onEnd(reason);
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let off = 0;
    if (!this.handshaken) {
      const at = buf.indexOf(HEADER_END);
      if (at < 0) {
        this.pending = buf;
        return;
      }
      // "HTTP/1.1 101 ..." : the status is at a fixed position.
      const status = buf.toString('latin1', 9, 12);
      if (status !== '101') return this.end(`http_${status}`);
      this.handshaken = true;
      this.open = true;
      off = at + 4;
      this.h.onOpen();
      if (this.ended) return;
    }
    while (buf.length - off >= 2) {
      const b0 = buf[off];
      const b1 = buf[off + 1];
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        head = 10;
      }
      // Server frames are never masked (RFC 6455 5.1); a masked one is a protocol error.
      if (b1 & 0x80) return this.end('masked_server_frame');
      if (buf.length - off < head + len) break;
      const start = off + head;
      const end = start + len;
      off = end;
      const fin = (b0 & 0x80) !== 0;
      const op = b0 & 0x0f;
      if (op === OP_TEXT || op === OP_BINARY || op === OP_CONT) {
        if (fin && this.fragments === null) {
          if (op !== OP_BINARY) this.h.onText(buf, start, end);
        } else {
          (this.fragments ??= []).push(Buffer.from(buf.subarray(start, end)));
          if (fin) {
            const whole = Buffer.concat(this.fragments);
            this.fragments = null;
            this.h.onText(whole, 0, whole.length);
          }
        }
      } else if (op === OP_PING) {
        const frame = Buffer.allocUnsafe(2 + 4 + len);
        frame[0] = 0x80 | OP_PONG;
        frame[1] = 0x80 | len;
        this.writeMasked(frame, 2, Buffer.from(buf.subarray(start, end)));
      } else if (op === OP_CLOSE) {
        const code = len >= 2 ? buf.readUInt16BE(start) : 1005;
        return this.end(`close_${code}`);
      }
      if (this.ended) return;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }
}
