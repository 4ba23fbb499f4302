import { COMMANDS, ProtocolError, sayOrCommand, type RoomSummary } from '../src/protocol/index.js';
import type { ChatClient } from './core/chat-client.js';

/** What the user typed, as a command for the client core. Pure, so it is unit-tested. */
export type InputCommand =
  | { kind: 'say'; text: string }
  | { kind: 'join'; room: string }
  | { kind: 'leave' }
  | { kind: 'users'; room?: string }
  | { kind: 'rooms' }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'error'; message: string };

export const COMMAND_NAMES = COMMANDS.map((c) => `/${c.name}`);

// Lengths are the server's to judge (it answers with a clear error); names and usage are checked here.
const NO_LIMITS = { maxFrameBytes: Infinity, maxMessageLength: Infinity };

/**
 * Reads a line with the server's own slash-command grammar (src/protocol), so the terminal and
 * the server can never disagree about what `/msg bob hi` or `//shrug` means.
 */
export function parseInput(line: string): InputCommand {
  try {
    const req = sayOrCommand(line, NO_LIMITS);
    switch (req.kind) {
      case 'direct':
        return { kind: 'msg', to: req.to, text: req.text };
      case 'say':
        return { kind: 'say', text: req.text };
      case 'join':
        return { kind: 'join', room: req.room };
      case 'users':
        return { kind: 'users', room: req.room };
      case 'leave':
      case 'rooms':
      case 'help':
      case 'quit':
        return { kind: req.kind };
      default:
        return { kind: 'error', message: `not a terminal command: ${line}` };
    }
  } catch (err) {
    if (err instanceof ProtocolError) return { kind: 'error', message: err.message };
    throw err;
  }
}

/** Tab completion: a command name first, then a room (after /join, /users) or a user (after /msg, or in text). */
export function completeInput(value: string, known: { rooms: string[]; users: string[] }): string {
  const words = value.split(' ');
  const last = words[words.length - 1];
  let pool: string[];
  if (words.length === 1 && last.startsWith('/')) pool = COMMAND_NAMES;
  else if (words.length === 2 && /^\/(join|users)$/i.test(words[0])) pool = known.rooms;
  else pool = known.users;
  if (!last) return value;
  const hits = pool.filter((p) => p.startsWith(last));
  if (hits.length === 0) return value;
  let common = hits[0];
  for (const h of hits) while (!h.startsWith(common)) common = common.slice(0, -1);
  words[words.length - 1] = hits.length === 1 ? `${hits[0]} ` : common;
  return words.join(' ');
}

/**
 * How a client shows what running a typed line gives. The terminal and the browser differ only
 * here; what a line does is runInput's, once for both.
 */
export interface InputView {
  /** A notice line. Its text may hold what the network sent: the view makes it safe to draw. */
  notice(text: string): void;
  /** A chat line waits for the connection; the function returned is called once it went out or failed. */
  waiting(text: string): () => void;
  /** Your direct message to `to` went out. */
  directSent(to: string, text: string): void;
  /** The rooms the server listed (after /rooms). */
  rooms?(list: RoomSummary[]): void;
  /** One line of /help for a command. */
  helpLine(usage: string, help: string): string;
  /** The last line of /help: the view's own keys. */
  keysHelp: string;
  /** A request failed. `line` is set for a chat line, which may have been stored all the same. */
  failed(message: string, line?: string): void;
  quit(): void;
}

/** Runs one typed line: a chat message, or a command read with the server's own grammar. */
export async function runInput(client: ChatClient, text: string, view: InputView): Promise<void> {
  const cmd = parseInput(text);
  try {
    switch (cmd.kind) {
      case 'say': {
        // Typed while not connected: it waits and goes out once the connection is up.
        const done = client.state === 'open' ? null : view.waiting(cmd.text);
        try {
          await client.sayWhenConnected(cmd.text); // drawn by the 'message' event, once
        } finally {
          done?.();
        }
        break;
      }
      case 'join':
        await client.join(cmd.room);
        break;
      case 'leave':
        await client.leave();
        break;
      case 'users': {
        const list = await client.users(cmd.room);
        view.notice(`${cmd.room ? `users in ${cmd.room}` : 'users online'}: ${list.join(', ')}`);
        break;
      }
      case 'rooms': {
        const list = await client.rooms();
        view.rooms?.(list);
        view.notice(`rooms: ${list.map((r) => `${r.name} (${r.users})`).join(', ')}`);
        break;
      }
      case 'msg':
        await client.direct(cmd.to, cmd.text);
        view.directSent(cmd.to, cmd.text);
        break;
      case 'help':
        for (const c of await client.help()) view.notice(view.helpLine(c.usage, c.help));
        view.notice(view.keysHelp);
        break;
      case 'quit':
        view.quit();
        break;
      case 'error':
        view.notice(cmd.message);
        break;
    }
  } catch (err) {
    view.failed((err as Error).message, cmd.kind === 'say' ? cmd.text : undefined);
  }
}
