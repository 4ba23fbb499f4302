/**
 * WebSocket handshakes from a chosen loopback source address (127.0.0.0/8 all reaches the
 * loopback interface on Linux), resolved with their outcome: the open socket, or the HTTP
 * refusal with its status, headers and body. For the per-address limits.
 */
import WebSocket from 'ws';
import { SUBPROTOCOL_V1 } from '../../src/protocol';

export type Handshake =
  | { ok: true; ws: WebSocket; welcome: Record<string, any> | null }
  | { ok: false; status: number; body: string; headers: Record<string, string | string[] | undefined> };

export interface FromOptions {
  /** Source address of the TCP connection (default: the kernel's choice, 127.0.0.1). */
  localAddress?: string;
  headers?: Record<string, string>;
  /** Wait for the extended dialect's welcome (default true), which names the worker. */
  welcome?: boolean;
  timeoutMs?: number;
}

/** One handshake to `wsUrl` as `username`; never rejects for a refusal, only for a network error. */
export function handshake(wsUrl: string, username: string, opts: FromOptions = {}): Promise<Handshake> {
  const ws = new WebSocket(`${wsUrl}?username=${encodeURIComponent(username)}`, [SUBPROTOCOL_V1], {
    localAddress: opts.localAddress,
    headers: opts.headers,
    handshakeTimeout: opts.timeoutMs ?? 20_000,
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        ws.terminate();
        resolve({ ok: false, status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    ws.once('error', reject);
    ws.once('open', () => {
      if (opts.welcome === false) return resolve({ ok: true, ws, welcome: null });
      ws.once('message', (data) => resolve({ ok: true, ws, welcome: JSON.parse(data.toString()) }));
    });
  });
}

/** Closes every open socket of `results` and waits until they are closed. */
export async function closeAll(results: readonly Handshake[]): Promise<void> {
  await Promise.all(
    results.map((r) => {
      if (!r.ok || r.ws.readyState === WebSocket.CLOSED) return undefined;
      return new Promise<void>((resolve) => {
        r.ws.once('close', () => resolve());
        r.ws.close(1000);
      });
    }),
  );
}
