/**
 * Where broker input enters a worker: decode and validate (events.ts), hand to the handler, and
 * drop and count whatever fails, never throw. A throw inside a NATS subscription callback ends
 * the connection's reader loop, so one malformed event used to stop every subscription of every
 * worker that received it.
 */
import type { Logger } from '../log';
import { decodeRoomEvent, decodeUserEnvelope, DEFAULT_EVENT_LIMITS, type DropReason, type EventLimits } from './events';
import type { BrokerHandlers } from './types';

/** Where a dropped event came from: a room subject, or this worker's route. */
export type DropSource = 'room' | 'worker';

export interface InboundOptions {
  limits?: EventLimits;
  log?: Logger;
  /** Counts one dropped event (chatfabric_broker_events_dropped_total). */
  onDrop?: (reason: DropReason, source: DropSource) => void;
  /** Least time between two log lines about drops of one reason and source (default 10 s). */
  logEveryMs?: number;
}

const LOG_EVERY_MS = 10_000;

export class Inbound {
  handlers: BrokerHandlers | null = null;
  /** Per "<reason> <source>": when it was last logged, and drops since then not logged. */
  private readonly logged = new Map<string, { at: number; unlogged: number }>();

  constructor(private readonly opts: InboundOptions = {}) {}

  /** One payload from `room`'s subject. */
  room(room: string, data: Uint8Array): void {
    if (!this.handlers) return; // not started yet: nobody to deliver to
    const d = decodeRoomEvent(room, data, this.opts.limits ?? DEFAULT_EVENT_LIMITS);
    if (!d.ok) return this.drop(d.reason, 'room', { room, detail: d.detail, bytes: data.byteLength });
    try {
      this.handlers.onRoomEvent(room, d.value, data);
    } catch (err) {
      this.drop('handler_error', 'room', { room, err, kind: d.value.kind });
    }
  }

  /** One payload from this worker's route; true when the user is here and got the event. */
  user(data: Uint8Array): boolean {
    if (!this.handlers) return false;
    const d = decodeUserEnvelope(data, this.opts.limits ?? DEFAULT_EVENT_LIMITS);
    if (!d.ok) {
      this.drop(d.reason, 'worker', { detail: d.detail, bytes: data.byteLength });
      return false;
    }
    try {
      return this.handlers.onUserEvent(d.value.user, d.value.event);
    } catch (err) {
      this.drop('handler_error', 'worker', { err, kind: d.value.event.kind });
      return false;
    }
  }

  private drop(reason: DropReason, source: DropSource, context: Record<string, unknown>): void {
    try {
      this.opts.onDrop?.(reason, source);
      // Whoever floods the fabric with garbage must not flood the log as well.
      const k = `${reason} ${source}`;
      const now = Date.now();
      const last = this.logged.get(k);
      if (last && now - last.at < (this.opts.logEveryMs ?? LOG_EVERY_MS)) {
        last.unlogged++;
        return;
      }
      this.logged.set(k, { at: now, unlogged: 0 });
      const msg = reason === 'handler_error' ? 'a broker event handler failed; event dropped' : 'dropped an invalid broker event';
      this.opts.log?.warn({ ...context, reason, source, droppedUnlogged: last?.unlogged ?? 0 }, msg);
    } catch {
      // Counting and logging are best effort; they must not become the throw this class prevents.
    }
  }
}
