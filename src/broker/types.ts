import type { ChatMessage, DirectMessage, LeaveReason } from '../protocol';

/** What travels on a room: a chat message or a presence change. */
export type RoomEvent =
  | { kind: 'message'; message: ChatMessage; origin: string }
  | { kind: 'joined'; room: string; user: string; ts: string }
  | { kind: 'left'; room: string; user: string; ts: string; reason: LeaveReason };

/** What travels to one user wherever they are connected. */
export type UserEvent =
  | { kind: 'direct'; message: DirectMessage }
  /** A newer connection with this user's session took over the name: close the old one. */
  | { kind: 'replaced'; by: string; room: string };

export interface BrokerHandlers {
  /** Called once per event per worker; the worker fans it out to its local members. */
  onRoomEvent(room: string, event: RoomEvent, payload: Uint8Array): void;
  /** Returns true when the user is connected here and got the event. */
  onUserEvent(user: string, event: UserEvent): boolean;
}

export type BrokerStatus = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/**
 * The pub/sub fabric between workers, in chat terms. A worker watches a room only while it
 * has local members in it, and watches each of its local users for direct traffic.
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
  watchUser(user: string): Promise<void>;
  unwatchUser(user: string): Promise<void>;
  /** Delivers to the worker holding `user`. Resolves false when no worker holds them. */
  sendToUser(user: string, event: UserEvent): Promise<boolean>;
  /** Stops taking work, flushes what is in flight, and closes. Safe to call twice. */
  close(): Promise<void>;
}
