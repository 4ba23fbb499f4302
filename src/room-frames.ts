/**
 * A room event as the frames each dialect receives. The fan-out calls this once per event and
 * dialect on each worker and hands the same Buffers to every member.
 */
import type { PresenceEvent, RoomEvent } from './broker/types';
import { encode, joinedManyText, legacyChat, legacySystem, leftManyText, type Dialect, type ServerFrame } from './protocol';

/** How many names a summary of a large room's presence changes spells out. */
export const SUMMARY_NAMES = 3;

/**
 * The encoded frames of one room event for one dialect. `summaryAbove` is the room size above
 * which presence notices are summaries (the first few names and counts).
 */
export function roomFrames(event: RoomEvent, dialect: Dialect, summaryAbove: number): Buffer[] {
  const frames = dialect === 'v1' ? v1Frames(event, summaryAbove) : legacyFrames(event, summaryAbove);
  return frames.map((f) => Buffer.from(encode(f)));
}

function v1Frames(event: RoomEvent, summaryAbove: number): ServerFrame[] {
  switch (event.kind) {
    case 'message':
      return [{ type: 'message', ...event.message }];
    case 'joined':
      return [{ type: 'user_joined', room: event.room, user: event.user, ts: event.ts }];
    case 'left':
      return [{ type: 'user_left', room: event.room, user: event.user, ts: event.ts, reason: event.reason }];
    case 'presence': {
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
  }
}

function legacyFrames(event: RoomEvent, summaryAbove: number) {
  switch (event.kind) {
    case 'message':
      return [legacyChat(event.message)];
    case 'joined':
      return [legacySystem(joinedManyText([event.user], 1, event.room), event.room, { event: 'user_joined', user: event.user })];
    case 'left':
      return [legacySystem(leftManyText([event.user], 1), event.room, { event: 'user_left', user: event.user })];
    case 'presence':
      return legacyPresence(event, summaryAbove);
  }
}

/**
 * The Go chatroom's clients show `content` as a line from "system": one line for the joins and
 * one for the leaves of a batch. A single change keeps the original frame exactly.
 */
function legacyPresence(e: PresenceEvent, summaryAbove: number) {
  // One line names at most ten users; more, or a large room, get the first three and a count.
  const cut = e.members > summaryAbove || e.joined.length + e.left.length > 10 ? SUMMARY_NAMES : Infinity;
  const out = [];
  if (e.joined.length === 1) out.push(legacySystem(joinedManyText(e.joined, 1, e.room), e.room, { event: 'user_joined', user: e.joined[0] }));
  else if (e.joined.length > 1) {
    const names = e.joined.slice(0, cut);
    out.push(legacySystem(joinedManyText(names, e.joined.length, e.room), e.room, { event: 'users_joined', users: names, count: e.joined.length }));
  }
  const leftNames = e.left.map((l) => l.user);
  if (leftNames.length === 1) out.push(legacySystem(leftManyText(leftNames, 1), e.room, { event: 'user_left', user: leftNames[0] }));
  else if (leftNames.length > 1) {
    const names = leftNames.slice(0, cut);
    out.push(legacySystem(leftManyText(names, leftNames.length), e.room, { event: 'users_left', users: names, count: leftNames.length }));
  }
  return out;
}
