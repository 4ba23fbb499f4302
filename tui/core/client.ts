/**
 * The client core (./chat-client.ts) with Node's WebSocket, the ws package, for the terminal
 * client, the tests and the load tools. Unlike a browser, ws shows a refused handshake's HTTP
 * status and body, which the core reports as `refusal` (a taken, invalid or reserved name, a bad
 * token, a full worker).
 */
import WebSocket from 'ws';
import { ChatClient as CoreClient, type ChatClientOptions, type ChatSocket, type SocketFactory } from './chat-client';

export * from './chat-client';

export const nodeSocket: SocketFactory = (url, protocols, refused) => {
  const ws = new WebSocket(url, protocols);
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body = (body + d).slice(0, 500)));
    res.on('end', () => {
      refused(res.statusCode ?? 0, body);
      ws.terminate();
    });
    res.on('error', () => ws.terminate());
  });
  // ws has the WHATWG properties (onmessage, onclose with code and reason); its event types are its own.
  return Object.assign(ws as unknown as ChatSocket, { abort: () => ws.terminate() });
};

export class ChatClient extends CoreClient {
  constructor(opts: ChatClientOptions) {
    super({ socket: nodeSocket, ...opts });
  }
}
