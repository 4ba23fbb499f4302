/**
 * A room event as the frames each dialect receives. The fan-out calls this once per event and
 * dialect on each worker and hands the same Buffers to every member.
 */
import type { PresenceEvent, RoomEvent } from './broker/types';
import { encode, isNoticeSender, joinedManyText, legacyChat, legacySystem, leftManyText, type Dialect, type ServerFrame } from './protocol';

/** How many names a summary of a large room's presence changes spells out. */
export const SUMMARY_NAMES = 3;

/**
 * The encoded frames of one room event for one dialect. `summaryAbove` is the room size above
 * which presence notices are summaries (the first few names and counts).
 */
export function roomFrames(event: CurrentRoomEvent, dialect: Dialect, summaryAbove: number): Buffer[] {
  const frames = dialect === 'v1' ? v1Frames(event, summaryAbove) : legacyFrames(event, summaryAbove);
  return frames.map((f) => Buffer.from(encode(f)));
}

/** Room events as this version publishes them. */
export type CurrentRoomEvent = Exclude<RoomEvent, { kind: 'joined' | 'left' }>;

/**
 * The per-user `joined` / `left` events of earlier versions (a rolling upgrade mixes them) as
 * one-change presence events, so that one path encodes every presence notice. A room size of 0
 * treats them as a small room's, which gives exactly the frames those versions produced.
 */
export function currentEvent(event: RoomEvent): CurrentRoomEvent {
  if (event.kind === 'joined') return { kind: 'presence', room: event.room, joined: [event.user], left: [], members: 0, ts: event.ts };
  if (event.kind === 'left') return { kind: 'presence', room: event.room, joined: [], left: [{ user: event.user, reason: event.reason }], members: 0, ts: event.ts };
  return event;
}

function v1Frames(event: CurrentRoomEvent, summaryAbove: number): ServerFrame[] {
  if (event.kind === 'message') return [{ type: 'message', ...event.message }];
  const { room, joined, left, members, ts } = event;
  // One change in a small room keeps the per-user frame that every v1 client understands.
  if (joined.length + left.length === 1 && members <= summaryAbove) {
    return joined.length
      ? [{ type: 'user_joined', room, user: joined[0], ts }]
      : [{ type: 'user_left', room, user: left[0].user, ts, reason: left[0].reason }];
  }
  // A large room, or a batch as large as one (a crashed worker's users reaped at once).
  const cut = members > summaryAbove || joined.length + left.length > summaryAbove ? SUMMARY_NAMES : Infinity;
  return [
    {
      type: 'presence',
      room,
      joined: joined.slice(0, cut),
      joinedCount: joined.length,
      left: left.slice(0, cut),
      leftCount: left.length,
      members,
      ts,
    },
  ];
}

/**
 * The Go chatroom's clients show `content` as a line from "system": one line for the joins and
 * one for the leaves of a batch. A single change keeps the original frame exactly.
 */
function legacyFrames(event: CurrentRoomEvent, summaryAbove: number) {
  // This version never lets anyone claim the notice sender's name; a chat from it comes from a
  // worker of an older version or a forged fabric event, and these clients would show it as the server's.
  if (event.kind === 'message') return isNoticeSender(event.message.from) ? [] : [legacyChat(event.message)];
  const e: PresenceEvent = event;
  // One line names at most ten users; more, or a large room, get the first three and a count.
  const cut = e.members > summaryAbove || e.joined.length + e.left.length > 10 ? SUMMARY_NAMES : Infinity;
  const line = (kind: 'joined' | 'left', all: string[]) => {
    if (all.length === 1) {
      const text = kind === 'joined' ? joinedManyText(all, 1, e.room) : leftManyText(all, 1);
      return legacySystem(text, e.room, { event: `user_${kind}`, user: all[0] });
    }
    const names = all.slice(0, cut);
    const text = kind === 'joined' ? joinedManyText(names, all.length, e.room) : leftManyText(names, all.length);
    return legacySystem(text, e.room, { event: `users_${kind}`, users: names, count: all.length });
  };
  const out = [];
  if (e.joined.length > 0) out.push(line('joined', e.joined));
  if (e.left.length > 0) out.push(line('left', e.left.map((l) => l.user)));
  return out;
}
