import type { ChatMessage, DirectMessage, LeaveReason } from '../protocol';

/** A batch of one worker's presence changes in a room (src/notices.ts). */
export interface PresenceEvent {
  kind: 'presence';
  room: string;
  joined: string[];
  left: { user: string; reason: LeaveReason }[];
  /** The room's size after these changes, as the publishing worker last saw it. */
  members: number;
  ts: string;
}

/**
 * What travels on a room: a chat message or presence changes. `joined` and `left` are the
 * per-user events of earlier versions, still understood so a rolling upgrade mixes versions.
 */
export type RoomEvent =
  | { kind: 'message'; message: ChatMessage; origin: string }
  | PresenceEvent
  | { kind: 'joined'; room: string; user: string; ts: string }
  | { kind: 'left'; room: string; user: string; ts: string; reason: LeaveReason };

/** What travels to one user wherever they are connected. */
export type UserEvent =
  | { kind: 'direct'; message: DirectMessage }
  /** A newer connection with this user's session took over the name: close the old one. */
  | { kind: 'replaced'; by: string; room: string };

/**
 * Every event reaches a handler only after the broker validated it (broker/events.ts); a handler
 * that throws costs that one event, never the subscription.
 */
export interface BrokerHandlers {
  /** Called once per event per worker; the worker fans it out to its local members. */
  onRoomEvent(room: string, event: RoomEvent, payload: Uint8Array): void;
  /** An event for a user addressed to this worker; returns true when the user is here and got it. */
  onUserEvent(user: string, event: UserEvent): boolean;
  /** The fabric connection was lost: events published meanwhile are not replayed. */
  onDisconnected?(): void;
  /** The fabric is back and holds this worker's subscriptions again. */
  onReconnected?(): void;
}

export type BrokerStatus = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/**
 * The pub/sub fabric between workers, in chat terms. A worker watches a room only while it
 * has local members in it. Traffic for one user (direct messages, takeovers) goes to the worker
 * presence says holds them, over that worker's one route: no subscription per user.
 */
export interface Broker {
  readonly status: BrokerStatus;
  /** Registers the single handler pair; events before this are dropped. */
  setHandlers(handlers: BrokerHandlers): void;
  /** Starts receiving a room's events. Resolves once the fabric has the subscription. */
  watchRoom(room: string): Promise<void>;
  unwatchRoom(room: string): Promise<void>;
  /** Publishes once; every worker watching the room, this one included, receives it. */
  publish(room: string, event: RoomEvent): Promise<void>;
  /**
   * Delivers an event for `user` to `worker` (the one presence names as holding them). Resolves
   * false when that worker does not hold the user, or is gone.
   */
  sendToWorker(worker: string, user: string, event: UserEvent): Promise<boolean>;
  /**
   * Subscriptions (rooms still watched, or "route" for this worker's route) that ended without
   * this worker asking, for example after the server withdrew a permission. Events for them no
   * longer arrive, so the worker is not ready while this is not empty.
   */
  lostSubscriptions(): string[];
  /** Stops taking work, flushes what is in flight, and closes. Safe to call twice. */
  close(): Promise<void>;
}
