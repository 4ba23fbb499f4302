import { COMMANDS, ProtocolError, sayOrCommand } from '../src/protocol/index.js';

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
