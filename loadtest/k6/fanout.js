/**
 * Fan-out: USERS users spread over ROOMS rooms (so USERS / ROOMS members each), SENDERS of each
 * room sending stamped chat messages so that all senders together send RATE messages a second,
 * and every member measuring the delivery latency of every message it receives. It loads the
 * broadcast path: one message in, (members - 1) deliveries out, across however many workers the
 * room's members are on.
 *
 *   k6 run -e URL=ws://127.0.0.1:8080/ws -e USERS=500 -e ROOMS=5 -e RATE=50 loadtest/k6/fanout.js
 *
 * Timeline: connects are spread over RAMP, then SETTLE (3 s) for the last joins, then DURATION of
 * sending, then DRAIN (3 s) so that nothing is in flight when the members check for gaps and close.
 */
import exec from 'k6/execution';
import { sleep } from 'k6';
import { chatFrame, connectUrl, createTracker, roomName, stampText, username } from './lib/chat.js';
import { SUMMARY_TREND_STATS, chatSession, commonParams, integrityThresholds, latencyThresholds, metrics, setupRun, zeroCounters } from './lib/harness.js';
import { durationParam, intParam, k6Duration, numberParam, senderIntervalMs } from './lib/params.js';

const common = commonParams(__ENV);
const USERS = intParam(__ENV, 'USERS', 200);
const ROOMS = intParam(__ENV, 'ROOMS', 4);
const SENDERS = intParam(__ENV, 'SENDERS', 3);
const RATE = numberParam(__ENV, 'RATE', 20, 0.01);
const DURATION_MS = durationParam(__ENV, 'DURATION', '1m');
// About 100 connects a second unless told otherwise.
const RAMP_MS = durationParam(__ENV, 'RAMP', k6Duration(Math.max(5000, USERS * 10)));
const SIZE = intParam(__ENV, 'SIZE', 0, 0);
const SETTLE_MS = 3000;
const DRAIN_MS = 3000;

const INTERVAL_MS = senderIntervalMs({ users: USERS, rooms: ROOMS, senders: SENDERS, rate: RATE });

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    fanout: {
      executor: 'per-vu-iterations',
      vus: USERS,
      iterations: 1,
      maxDuration: k6Duration(RAMP_MS + SETTLE_MS + DURATION_MS + DRAIN_MS + common.joinTimeoutMs + 30000),
    },
  },
  thresholds: {
    chat_delivery_latency: latencyThresholds(common),
    chat_messages_received: ['count>0'],
    ...integrityThresholds(),
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

/** Runs once: the prefix all VUs share. */
export function setup() {
  return setupRun(__ENV);
}

/**
 * One member for the whole test: one iteration, one connection.
 * @param {{ prefix: string }} data
 */
export default function (data) {
  zeroCounters([metrics.received, metrics.gaps, metrics.duplicates, metrics.closeErrors, metrics.serverErrors]);
  const i = exec.vu.idInTest - 1;
  const user = username(data.prefix, i);
  const room = roomName(data.prefix, i % ROOMS);
  // The first SENDERS members of each room send.
  const isSender = Math.floor(i / ROOMS) < SENDERS;
  const dialect = common.dialect;
  const sendFrom = exec.scenario.startTime + RAMP_MS + SETTLE_MS;
  const sendUntil = sendFrom + DURATION_MS;
  const closeAt = sendUntil + DRAIN_MS;

  sleep((RAMP_MS * i) / USERS / 1000);
  const tracker = createTracker();
  tracker.expect(room, undefined, dialect === 'v1');
  let seq = 0;

  chatSession({
    url: connectUrl(common.url, { username: user, room }),
    dialect,
    username: user,
    joinTimeoutMs: common.joinTimeoutMs,
    tracker,
    onInRoom(conn) {
      if (isSender) {
        const send = () => {
          if (Date.now() >= sendUntil) return;
          seq++;
          conn.send(chatFrame(dialect, stampText({ sentAt: Date.now(), worker: conn.worker, seq }, SIZE), seq));
          metrics.sent.add(1);
        };
        // A random phase per sender, so that the room's messages do not all leave at once.
        conn.after(sendFrom - Date.now() + Math.random() * INTERVAL_MS, () => {
          send();
          conn.every(INTERVAL_MS, send);
        });
      }
      conn.after(closeAt - Date.now(), () => {
        // An original-dialect sender never sees its own ids (no ack), so only v1 clients and
        // original receivers can tell a gap from their own messages.
        if (dialect === 'v1' || !isSender) metrics.gaps.add(tracker.lostUpTo(room, tracker.highest(room)));
        conn.close();
      });
    },
  });
}
