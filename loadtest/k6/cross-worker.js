/**
 * Cross-worker latency: like fanout.js, but every sender puts the name of its worker in the text
 * and every receiver tags the latency with same_worker "true" or "false", so the summary splits
 * deliveries inside one worker from those that crossed NATS to another. The thresholds are on the
 * cross-worker part.
 *
 *   k6 run -e URL=ws://127.0.0.1:8080/ws -e USERS=100 loadtest/k6/cross-worker.js
 *   k6 run -e URLS=ws://127.0.0.1:9001/ws,ws://127.0.0.1:9002/ws loadtest/k6/cross-worker.js
 *
 * Extended dialect only: a client learns its worker from the v1 `welcome` frame, and the
 * original dialect has none. Through nginx, users land on workers by a hash of their username;
 * URLS (comma-separated worker endpoints) places them round-robin on the workers directly instead.
 * The run needs at least two workers: with one, there is nothing to cross and
 * chat_cross_worker_deliveries stays 0, which fails its threshold.
 */
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { chatFrame, connectUrl, createTracker, roomName, stampText, username } from './lib/chat.js';
import { SUMMARY_TREND_STATS, chatSession, commonParams, integrityThresholds, latencyThresholds, metrics, setupRun, zeroCounters } from './lib/harness.js';
import { durationParam, intParam, k6Duration, numberParam, senderIntervalMs, stringParam } from './lib/params.js';

const common = commonParams(__ENV);
if (common.dialect !== 'v1') {
  throw new Error('cross-worker.js needs DIALECT=v1: only the extended dialect\'s welcome frame names the worker serving a client');
}
const URLS = stringParam(__ENV, 'URLS', common.url).split(',').map((u) => u.trim()).filter((u) => u !== '');
const USERS = intParam(__ENV, 'USERS', 40);
const ROOMS = intParam(__ENV, 'ROOMS', 1);
const SENDERS = intParam(__ENV, 'SENDERS', 4);
const RATE = numberParam(__ENV, 'RATE', 20, 0.01);
const DURATION_MS = durationParam(__ENV, 'DURATION', '1m');
const RAMP_MS = durationParam(__ENV, 'RAMP', k6Duration(Math.max(5000, USERS * 10)));
const SETTLE_MS = 3000;
const DRAIN_MS = 3000;

const INTERVAL_MS = senderIntervalMs({ users: USERS, rooms: ROOMS, senders: SENDERS, rate: RATE });

/** Deliveries between two different workers; must be above 0 for the run to mean anything. */
const crossDeliveries = new Counter('chat_cross_worker_deliveries');

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    cross_worker: {
      executor: 'per-vu-iterations',
      vus: USERS,
      iterations: 1,
      maxDuration: k6Duration(RAMP_MS + SETTLE_MS + DURATION_MS + DRAIN_MS + common.joinTimeoutMs + 30000),
    },
  },
  thresholds: {
    'chat_delivery_latency{same_worker:false}': latencyThresholds(common),
    // Shown for comparison (k6 prints a sub-metric only when it has a threshold).
    'chat_delivery_latency{same_worker:true}': latencyThresholds(common),
    chat_cross_worker_deliveries: ['count>0'],
    ...integrityThresholds(),
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

/** Runs once: the prefix all VUs share. */
export function setup() {
  return setupRun(__ENV);
}

/**
 * One member for the whole test.
 * @param {{ prefix: string }} data
 */
export default function (data) {
  zeroCounters([crossDeliveries, metrics.gaps, metrics.duplicates, metrics.closeErrors, metrics.serverErrors]);
  const i = exec.vu.idInTest - 1;
  const user = username(data.prefix, i);
  const room = roomName(data.prefix, i % ROOMS);
  const isSender = Math.floor(i / ROOMS) < SENDERS;
  const sendFrom = exec.scenario.startTime + RAMP_MS + SETTLE_MS;
  const sendUntil = sendFrom + DURATION_MS;
  const closeAt = sendUntil + DRAIN_MS;

  sleep((RAMP_MS * i) / USERS / 1000);
  const tracker = createTracker();
  tracker.expect(room, undefined, true);
  let seq = 0;

  chatSession({
    url: connectUrl(URLS[i % URLS.length], { username: user, room }),
    dialect: 'v1',
    username: user,
    joinTimeoutMs: common.joinTimeoutMs,
    tracker,
    latencyTags(conn, ev) {
      const same = !!ev.stamp && ev.stamp.worker === conn.worker;
      if (!same) crossDeliveries.add(1);
      return { same_worker: same ? 'true' : 'false' };
    },
    onInRoom(conn) {
      if (isSender) {
        const send = () => {
          if (Date.now() >= sendUntil) return;
          seq++;
          // The welcome came before this (it is the first frame), so conn.worker is known.
          conn.send(chatFrame('v1', stampText({ sentAt: Date.now(), worker: conn.worker, seq }), seq));
          metrics.sent.add(1);
        };
        conn.after(sendFrom - Date.now() + Math.random() * INTERVAL_MS, () => {
          send();
          conn.every(INTERVAL_MS, send);
        });
      }
      conn.after(closeAt - Date.now(), () => {
        metrics.gaps.add(tracker.lostUpTo(room, tracker.highest(room)));
        conn.close();
      });
    },
  });
}
