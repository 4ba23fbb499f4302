/**
 * Reading the scripts' `-e NAME=value` parameters (k6's __ENV) with defaults, and k6 duration
 * strings. Pure (no k6 imports) so that the unit test can check it; a bad value throws in the
 * init context, which stops k6 before any VU starts, with the parameter's name in the message.
 */

/** @typedef {Record<string, string | undefined>} Env */

/**
 * A k6-style duration (`500ms`, `30s`, `5m`, `1h`, `1m30s`; a bare number is seconds) in ms.
 * @param {string} text
 * @returns {number}
 */
export function parseDuration(text) {
  const t = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const unit = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  /** @type {Record<string, number>} */
  const scale = { ms: 1, s: 1000, m: 60000, h: 3600000 };
  let total = 0;
  let consumed = '';
  let m;
  while ((m = unit.exec(t)) !== null) {
    total += Number(m[1]) * scale[m[2]];
    consumed += m[0];
  }
  if (!consumed || consumed !== t) throw new Error(`not a duration: "${text}" (use e.g. 30s, 5m, 1h, 1m30s)`);
  return Math.round(total);
}

/**
 * A duration in ms as a string k6 accepts in options (whole seconds, rounded up, at least 1s).
 * @param {number} ms
 * @returns {string}
 */
export function k6Duration(ms) {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/**
 * @param {Env} env
 * @param {string} name
 * @param {string} def
 * @returns {string}
 */
export function stringParam(env, name, def) {
  const v = env[name];
  return v === undefined || v === '' ? def : v;
}

/**
 * A whole number of at least `min`.
 * @param {Env} env
 * @param {string} name
 * @param {number} def
 * @param {number} [min]
 * @returns {number}
 */
export function intParam(env, name, def, min = 1) {
  const v = env[name];
  if (v === undefined || v === '') return def;
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < min) throw new Error(`${name} must be a whole number of at least ${min}, not "${v}"`);
  return Number(v);
}

/**
 * A number (decimals allowed) of at least `min`.
 * @param {Env} env
 * @param {string} name
 * @param {number} def
 * @param {number} [min]
 * @returns {number}
 */
export function numberParam(env, name, def, min = 0) {
  const v = env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(v) || n < min) throw new Error(`${name} must be a number of at least ${min}, not "${v}"`);
  return n;
}

/**
 * A duration in ms.
 * @param {Env} env
 * @param {string} name
 * @param {string} def  a k6 duration string
 * @returns {number}
 */
export function durationParam(env, name, def) {
  const v = env[name];
  try {
    return parseDuration(v === undefined || v === '' ? def : v);
  } catch (err) {
    throw new Error(`${name}: ${/** @type {Error} */ (err).message}`);
  }
}

/**
 * The interval at which each of `senders` senders in each of `rooms` rooms sends, so that all of
 * them together send `rate` messages a second. Refuses a layout the server's per-connection
 * rate limit (20 frames/s by default, burst 40) would cut: at most 15 a second per sender.
 * @param {{ users: number, rooms: number, senders: number, rate: number }} p
 * @returns {number} ms between one sender's messages
 */
export function senderIntervalMs(p) {
  const { users, rooms, senders, rate } = p;
  if (users < rooms * senders) throw new Error(`USERS (${users}) must be at least ROOMS x SENDERS (${rooms * senders})`);
  const perSender = rate / (rooms * senders);
  if (perSender > 15) {
    throw new Error(
      `RATE ${rate} over ${rooms * senders} senders is ${perSender.toFixed(1)} messages/s each, above the 15/s this ` +
        "script allows under the server's 20 frames/s per connection: raise SENDERS or ROOMS (or the server's RATE_LIMIT_PER_SEC)",
    );
  }
  return 1000 / perSender;
}
