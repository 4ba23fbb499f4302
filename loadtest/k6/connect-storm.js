/**
 * Connect storm: USERS users arrive over DURATION (k6's ramping-arrival-rate: up for the first
 * fifth, flat for three fifths, down for the last fifth), each joins one of ROOMS rooms, says one
 * stamped message, holds the connection for HOLD and leaves, half of them with /quit and half
 * with a close 1000. It loads what a deploy or an outage recovery does to chatfabric: username
 * claims, joins with their history reads and presence writes, and the join notices to the rooms.
 *
 *   k6 run -e URL=ws://127.0.0.1:8080/ws -e USERS=2000 -e DURATION=1m loadtest/k6/connect-storm.js
 *
 * RATE does not apply here: the load is the arrival rate, about USERS / (0.8 * DURATION) users a
 * second at the peak.
 */
import exec from 'k6/execution';
import { chatFrame, connectUrl, roomName, stampText, username } from './lib/chat.js';
import { SUMMARY_TREND_STATS, chatSession, commonParams, metrics, setupRun, zeroCounters } from './lib/harness.js';
import { durationParam, intParam, k6Duration } from './lib/params.js';

const common = commonParams(__ENV);
const USERS = intParam(__ENV, 'USERS', 1000);
const ROOMS = intParam(__ENV, 'ROOMS', 10);
const DURATION_MS = durationParam(__ENV, 'DURATION', '1m');
const HOLD_MS = durationParam(__ENV, 'HOLD', '5s');

if (DURATION_MS < 5000) throw new Error('DURATION must be at least 5s for the arrival ramps');
const seconds = DURATION_MS / 1000;
// Ramps of a fifth each side and a plateau of three fifths carry 0.8 * peak * DURATION arrivals.
const PEAK = Math.max(1, Math.ceil(USERS / (0.8 * seconds)));
// Users in flight at the peak: arrivals a second times how long each stays (hold plus its
// connect and quit), with room for a slow server; beyond it k6 drops arrivals (dropped_iterations).
const MAX_VUS = intParam(__ENV, 'MAX_VUS', Math.ceil(PEAK * (HOLD_MS / 1000 + 5) * 1.5));

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    storm: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: Math.min(MAX_VUS, Math.ceil(PEAK * (HOLD_MS / 1000 + 1))),
      maxVUs: MAX_VUS,
      stages: [
        { duration: k6Duration(DURATION_MS * 0.2), target: PEAK },
        { duration: k6Duration(DURATION_MS * 0.6), target: PEAK },
        { duration: k6Duration(DURATION_MS * 0.2), target: 0 },
      ],
      gracefulStop: k6Duration(HOLD_MS + common.joinTimeoutMs + 10000),
    },
  },
  thresholds: {
    chat_connect_time: ['p(95)<1000', 'p(99)<3000'],
    chat_connect_ok: ['rate>0.99'],
    chat_close_errors: ['count==0'],
    chat_server_errors: ['count==0'],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

/** Runs once: the prefix all VUs share. */
export function setup() {
  return setupRun(__ENV);
}

/**
 * One arriving user: every iteration is a new user, so the name comes from the iteration number.
 * @param {{ prefix: string }} data
 */
export default function (data) {
  zeroCounters([metrics.closeErrors, metrics.serverErrors]);
  const n = exec.scenario.iterationInTest;
  const user = username(data.prefix, n);
  const room = roomName(data.prefix, n % ROOMS);
  chatSession({
    url: connectUrl(common.url, { username: user, room }),
    dialect: common.dialect,
    username: user,
    joinTimeoutMs: common.joinTimeoutMs,
    onInRoom(conn) {
      conn.send(chatFrame(conn.dialect, stampText({ sentAt: Date.now(), worker: conn.worker, seq: 0 }), 1));
      metrics.sent.add(1);
      conn.after(HOLD_MS, () => (n % 2 === 0 ? conn.quit() : conn.close()));
    },
  });
}
