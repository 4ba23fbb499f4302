/**
 * Benchmark peer `ws`: plain `ws` in one process, rooms fanned out in memory. The practical lower
 * bound of a chat server (no presence, no history, no validation beyond JSON; see subset.ts):
 * what one Node process does when nothing but the fan-out itself costs anything.
 *
 *   PORT=9000 node dist/loadtest/bench/servers/ws.js
 */
import { encodeFrame, sendTo, serveSubset, type Member } from './subset';

const rooms = new Map<string, Set<Member>>();

serveSubset({
  join(member) {
    let set = rooms.get(member.room);
    if (!set) rooms.set(member.room, (set = new Set()));
    set.add(member);
  },
  message(sender, text) {
    const set = rooms.get(sender.room);
    if (!set) return;
    const data = encodeFrame({ type: 'message', room: sender.room, from: sender.user, text, ts: Date.now() });
    for (const m of set) if (m !== sender) sendTo(m, data);
  },
  leave(member) {
    const set = rooms.get(member.room);
    if (set?.delete(member) && set.size === 0) rooms.delete(member.room);
  },
});
