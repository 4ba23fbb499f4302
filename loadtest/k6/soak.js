/**
 * Soak: USERS users for DURATION (30 minutes by default) doing what people do, at a steady
 * RATE of messages a second in all: chat in their room, direct messages to each other (DM_SHARE
 * of the sends), presence churn (every CHURN a user moves: home room, then another room, then
 * `leave` to global, then back home), and reconnects (every connection lives about SESSION, then
 * the user is offline for about PAUSE and reconnects into the room it was in, with its session
 * token (v1; in the handshake headers) and resuming with `after` = the highest contiguous id it holds).
 *
 *   k6 run -e URL=ws://127.0.0.1:8080/ws -e USERS=200 -e RATE=40 -e DURATION=2h loadtest/k6/soak.js
 *
 * What it checks beyond latency: after every resume (and every join with `after`), the history
 * must hold exactly the messages missed: chat_gaps counts ids that never arrived, chat_duplicates
 * ids delivered twice on one join or at or below `after`; both must stay 0. Resume is a v1
 * feature: in the original dialect the users reconnect without history, so only duplicates on
 * one join are checked.
 */
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import {
  chatFrame,
  connectUrl,
  createTracker,
  DEFAULT_ROOM,
  directFrame,
  joinFrame,
  leaveFrame,
  roomName,
  sessionToken,
  shouldReconnect,
  stampText,
  username,
} from './lib/chat.js';
import { SUMMARY_TREND_STATS, chatSession, commonParams, integrityThresholds, latencyThresholds, metrics, setupRun, zeroCounters } from './lib/harness.js';
import { durationParam, intParam, k6Duration, numberParam } from './lib/params.js';

const common = commonParams(__ENV);
const V1 = common.dialect === 'v1';
const USERS = intParam(__ENV, 'USERS', 50, 2);
const ROOMS = intParam(__ENV, 'ROOMS', 5);
const RATE = numberParam(__ENV, 'RATE', 10, 0.01);
const DURATION_MS = durationParam(__ENV, 'DURATION', '30m');
const RAMP_MS = durationParam(__ENV, 'RAMP', k6Duration(Math.max(5000, USERS * 10)));
const SESSION_MS = durationParam(__ENV, 'SESSION', '2m');
const PAUSE_MS = durationParam(__ENV, 'PAUSE', '2s');
const CHURN_MS = durationParam(__ENV, 'CHURN', '30s');
const DM_SHARE = numberParam(__ENV, 'DM_SHARE', 0.1);
const DRAIN_MS = 3000;

const PER_USER = RATE / USERS;
if (PER_USER > 15) throw new Error(`RATE ${RATE} over ${USERS} users is ${PER_USER.toFixed(1)} frames/s each; the server allows 20/s per connection: raise USERS`);
const SEND_INTERVAL_MS = 1000 / PER_USER;

const resumes = new Counter('chat_resumes');
const directReceived = new Counter('chat_direct_received');
const directLatency = new Trend('chat_direct_latency', true);
/** Direct messages delivered, against those refused because the recipient was between connections. */
const directOk = new Rate('chat_direct_ok');

/** @type {import('k6/options').Options['thresholds']} */
const thresholds = {
  chat_delivery_latency: latencyThresholds(common),
  chat_direct_latency: latencyThresholds(common),
  // Recipients are offline about PAUSE out of every SESSION; more refusals mean lost presence.
  chat_direct_ok: ['rate>0.9'],
  ...integrityThresholds(),
};
if (V1) thresholds.chat_resumes = ['count>0'];

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    soak: {
      executor: 'per-vu-iterations',
      vus: USERS,
      iterations: 1,
      maxDuration: k6Duration(RAMP_MS + DURATION_MS + common.joinTimeoutMs + 60000),
    },
  },
  thresholds,
  summaryTrendStats: SUMMARY_TREND_STATS,
};

/** Runs once: the prefix all VUs share. */
export function setup() {
  return setupRun(__ENV);
}

/**
 * One user for the whole test: connections one after another in one iteration, each resuming
 * where the previous one stopped.
 * @param {{ prefix: string }} data
 */
export default function (data) {
  zeroCounters([resumes, directReceived, metrics.gaps, metrics.duplicates, metrics.closeErrors, metrics.serverErrors]);
  const i = exec.vu.idInTest - 1;
  const user = username(data.prefix, i);
  const home = roomName(data.prefix, i % ROOMS);
  const session = sessionToken(data.prefix, i);
  const dialect = common.dialect;
  const closeAt = exec.scenario.startTime + RAMP_MS + DURATION_MS;
  const sendUntil = closeAt - DRAIN_MS;
  const tracker = createTracker();
  let room = home;
  let seq = 0;

  sleep((RAMP_MS * i) / USERS / 1000);
  while (Date.now() < closeAt - 5000) {
    const after = V1 ? tracker.resumeAfter(room) : undefined;
    tracker.expect(room, after, V1);
    const endAt = Math.min(closeAt, Date.now() + SESSION_MS * (0.5 + Math.random()));
    let where = room;
    let moving = false;

    /** @param {import('./lib/harness.js').ChatConn} conn */
    const sendOne = (conn) => {
      if (Date.now() >= sendUntil) return;
      seq++;
      const text = stampText({ sentAt: Date.now(), worker: conn.worker, seq });
      if (Math.random() < DM_SHARE) {
        // Anyone but oneself; they may be between connections, which the server answers with user_offline.
        const to = username(data.prefix, (i + 1 + Math.floor(Math.random() * (USERS - 1))) % USERS);
        conn.send(directFrame(dialect, to, text, seq));
      } else {
        conn.send(chatFrame(dialect, text, seq));
        metrics.sent.add(1);
      }
    };

    /**
     * Home, then another room, then `leave` (to global), then home again. Joins resume with
     * `after`, as a client coming back to a room should; `leave` has no `after`, so global is
     * joined afresh.
     * @param {import('./lib/harness.js').ChatConn} conn
     */
    const move = (conn) => {
      if (moving || Date.now() >= sendUntil) return;
      /** @type {string} */
      let target;
      if (where === DEFAULT_ROOM) target = home;
      else if (where === home && ROOMS > 1) target = roomName(data.prefix, (i + 1 + Math.floor(Math.random() * (ROOMS - 1))) % ROOMS);
      else target = DEFAULT_ROOM;
      moving = true;
      if (target === DEFAULT_ROOM) {
        tracker.expect(DEFAULT_ROOM, undefined, V1);
        conn.send(leaveFrame(dialect));
      } else {
        const resumeAfter = V1 ? tracker.resumeAfter(target) : undefined;
        tracker.expect(target, resumeAfter, V1);
        conn.send(joinFrame(dialect, target, resumeAfter));
      }
    };

    const result = chatSession({
      url: connectUrl(common.url, { username: user, room, after }),
      dialect,
      session,
      username: user,
      joinTimeoutMs: common.joinTimeoutMs,
      tracker,
      expectedErrors: ['user_offline'],
      tags: { resume: after !== undefined ? 'true' : 'false' },
      onInRoom(conn) {
        if (after !== undefined) resumes.add(1);
        conn.every(SEND_INTERVAL_MS * (0.8 + Math.random() * 0.4), () => sendOne(conn));
        conn.every(CHURN_MS * (0.8 + Math.random() * 0.4), () => move(conn));
        conn.after(endAt - Date.now(), () => {
          // The last connection: everyone stopped sending DRAIN ago, so what is missing now is lost.
          // (An original-dialect sender gets no ack, so its own ids would look missing: v1 only.)
          if (V1 && endAt >= closeAt) metrics.gaps.add(tracker.lostUpTo(where, tracker.highest(where)));
          conn.close();
        });
      },
      onEvent(conn, ev) {
        // Where the server says the user is, which is where it must resume after a drop.
        if ((V1 && ev.kind === 'joined') || (!V1 && ev.kind === 'user_joined' && ev.own)) {
          where = ev.room || where;
          moving = false;
        } else if (ev.kind === 'direct' && ev.stamp) {
          directReceived.add(1);
          directLatency.add(Date.now() - ev.stamp.sentAt);
        } else if (ev.kind === 'direct_ack') {
          directOk.add(true);
        } else if (ev.kind === 'error' && ev.code === 'user_offline') {
          directOk.add(false);
        }
      },
    });
    room = where;
    // 4001 (name taken), 4002 (abuse), 4005 (replaced), 4007 (claim lost): reconnecting cannot help.
    if (result.closeCode !== null && !result.expectedClose && !shouldReconnect(result.closeCode)) break;
    sleep((PAUSE_MS * (0.5 + Math.random())) / 1000);
  }
}
