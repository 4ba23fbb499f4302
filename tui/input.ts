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

export const COMMAND_NAMES = ['/help', '/users', '/rooms', '/join', '/leave', '/msg', '/quit'];

export function parseInput(line: string): InputCommand {
  if (!line.startsWith('/') || line.startsWith('//')) return { kind: 'say', text: line.startsWith('//') ? line.slice(1) : line };
  const [head, ...args] = line.slice(1).split(/\s+/);
  switch (head.toLowerCase()) {
    case 'help':
      return { kind: 'help' };
    case 'rooms':
      return { kind: 'rooms' };
    case 'leave':
      return { kind: 'leave' };
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    case 'users':
      return { kind: 'users', room: args[0] || undefined };
    case 'join':
      return args[0] ? { kind: 'join', room: args[0] } : { kind: 'error', message: 'usage: /join <room>' };
    case 'msg': {
      const text = line.replace(/^\/msg\s+\S+\s*/i, '');
      return args[0] && text ? { kind: 'msg', to: args[0], text } : { kind: 'error', message: 'usage: /msg <user> <text>' };
    }
    default:
      return { kind: 'error', message: `unknown command /${head}; try /help` };
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
