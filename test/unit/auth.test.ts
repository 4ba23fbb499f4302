/**
 * Credentials in the handshake, on the real HTTP/WebSocket server in memory mode: secrets travel
 * as subprotocol values (or Authorization), never in the URL; JWTs signed here with jose (HS256,
 * RS256 with a PEM file, ES256 with a JWKS file) are checked before the upgrade with a 401 and a
 * reason; the username comes from the token; an expiring token closes its connection with 4008;
 * the Origin allowlist refuses other pages with 403.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../src/auth';
import { ConfigError, loadConfig } from '../../src/config';
import { CloseCode, SUBPROTOCOL_V1 } from '../../src/protocol';
import { connect, connectV1, type ConnectOptions } from '../support/client';
import { clusterPerTest } from './memory-cluster';

type Jose = typeof import('jose');
let jose: Jose;
const SECRET = 'test-secret-0123456789-abcdefghij-XYZ';
const OTHER_SECRET = 'another-secret-0123456789-abcdefghij';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-auth-'));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaOther = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecOther = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPemFile = path.join(tmp, 'rsa.pem');
const jwksFile = path.join(tmp, 'jwks.json');

beforeAll(async () => {
  jose = await import('jose');
  writeFileSync(rsaPemFile, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const jwk = await jose.exportJWK(ec.publicKey);
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...jwk, kid: 'ec-1', alg: 'ES256', use: 'sig' }] }));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Claims {
  sub?: string;
  exp?: number | string | null;
  nbf?: number | string;
  aud?: string;
  iss?: string;
  [claim: string]: unknown;
}

/** A token signed with `key` (a secret string or a private key) by `alg`; expires in an hour unless `exp` says otherwise. */
async function sign(claims: Claims, key: string | import('node:crypto').KeyObject = SECRET, alg = 'HS256', kid?: string): Promise<string> {
  const { exp = '1h', nbf, ...rest } = claims;
  const jwt = new jose.SignJWT(rest as Record<string, unknown>).setProtectedHeader({ alg, ...(kid && { kid }) }).setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(exp);
  if (nbf !== undefined) jwt.setNotBefore(nbf);
  return jwt.sign(typeof key === 'string' ? new TextEncoder().encode(key) : key);
}

const startCluster = clusterPerTest();
const start = (env: Record<string, string> = {}) => startCluster({ nodes: 2, env });
const HS256 = { AUTH_MODE: 'jwt', AUTH_SECRET: SECRET };

/** The refusal of an upgrade: status, body and headers. */
async function refused(url: string, user: string | null, opts: ConnectOptions = {}): Promise<{ status: number; body: string }> {
  return connect(url, user, opts).then(
    (c) => {
      c.terminate();
      throw new Error(`upgrade as ${user} was accepted`);
    },
    (e: { status?: number; body?: string; message: string }) => {
      if (e.status === undefined) throw e;
      return { status: e.status, body: e.body!.trim() };
    },
  );
}

/** A raw upgrade request, for the response headers. */
function rawUpgrade(wsUrl: string, headers: Record<string, string>): Promise<http.IncomingMessage & { body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(wsUrl.replace('ws://', 'http://'), {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(Object.assign(res, { body })));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(Object.assign(res, { body: '' }));
    });
    req.on('error', reject);
  });
}

describe('credentials travel in the handshake headers, never in the URL', () => {
  it('refuses session and token query parameters with 400 saying where they go now', async () => {
    const c = await start();
    for (const query of ['session=alice-laptop-7f3a9c12', 'token=a.b.c', 'access_token=a.b.c', 'jwt=a.b.c']) {
      const r = await refused(c.url(0), 'alice', { v1: true, query });
      expect(r.status, query).toBe(400);
      expect(r.body, query).toContain('chatfabric.session.<token>');
      expect(r.body, query).toContain('chatfabric.auth.<jwt>');
    }
  });

  it('takes the session from a chatfabric.session.<token> subprotocol and selects only chatfabric.v1', async () => {
    const c = await start();
    const session = 'alice-laptop-7f3a9c12';
    const res = await rawUpgrade(c.url(0) + '?username=alice', { 'Sec-WebSocket-Protocol': `chatfabric.v1, chatfabric.session.${session}` });
    expect(res.statusCode).toBe(101);
    expect(res.headers['sec-websocket-protocol']).toBe(SUBPROTOCOL_V1);
    // The session works: a second connection with it takes the name over, on the other node.
    const first = await c.v1(0, 'bob', { session });
    const second = await c.v1(1, 'bob', { session });
    expect(await first.closed).toBe(CloseCode.SessionReplaced);
    expect(second.ws.protocol).toBe(SUBPROTOCOL_V1);
    // Without the token the name stays taken.
    const third = await c.raw(0, 'bob', { v1: true });
    expect(await third.closed).toBe(CloseCode.UsernameTaken);
  });

  it('refuses malformed credentials with 400 and never echoes them', async () => {
    const c = await start();
    for (const [opts, text] of [
      [{ session: 'short' }, 'invalid session'],
      [{ session: 'x'.repeat(129) }, 'invalid session'],
      [{ session: 'dots.are.not.allowed.1234' }, 'invalid session'],
      [{ token: 'not-a-jwt' }, 'not a well-formed JWT'],
      [{ bearer: 'not-a-jwt' }, 'not a well-formed JWT'],
      [{ token: 'a.b.c', bearer: 'a.b.c' }, 'send the token once'],
    ] as const) {
      const r = await refused(c.url(0), 'alice', { v1: true, ...opts });
      expect(r.status, JSON.stringify(opts)).toBe(400);
      expect(r.body).toContain(text);
      expect(r.body).not.toContain('x'.repeat(20));
      expect(r.body).not.toContain('not-a-jwt');
    }
    const two = await rawUpgrade(c.url(0) + '?username=alice', {
      'Sec-WebSocket-Protocol': 'chatfabric.v1, chatfabric.session.aaaaaaaaaaaaaaaa, chatfabric.session.bbbbbbbbbbbbbbbb',
    });
    expect(two.statusCode).toBe(400);
    expect(two.body).toContain('not several');
    const basic = await rawUpgrade(c.url(0) + '?username=alice', { Authorization: 'Basic YWxpY2U6cHc=' });
    expect(basic.statusCode).toBe(400);
    expect(basic.body).toContain('Bearer <jwt>');
  });

  it('ignores tokens while auth.mode is off: the query names the user', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice', { token: await sign({ sub: 'mallory' }) });
    expect(alice.ofType('welcome')[0].user).toBe('alice');
  });
});

describe('JWT authentication (auth.mode jwt)', () => {
  it('accepts an HS256 token as a subprotocol or a Bearer header; the username comes from the claim', async () => {
    const c = await start(HS256);
    const alice = c.track(await connectV1(c.url(0), null, { token: await sign({ sub: 'alice' }) }));
    expect(alice.ofType('welcome')[0].user).toBe('alice');
    expect(alice.ws.protocol).toBe(SUBPROTOCOL_V1);
    const bob = c.track(await connectV1(c.url(1), 'bob', { bearer: await sign({ sub: 'bob' }) }));
    expect(bob.ofType('welcome')[0].user).toBe('bob');
    // The original dialect authenticates with the header (it offers no subprotocol).
    const carol = await c.raw(0, null, { bearer: await sign({ sub: 'carol' }) });
    await carol.waitFor((f) => f.type === 'system_message' && f.content === 'carol joined the room global');
    // alice and bob, on two nodes, chat.
    alice.send({ type: 'message', text: 'hello from a token' });
    await bob.waitFor((f) => f.type === 'message' && f.from === 'alice' && f.text === 'hello from a token');
  });

  it('takes the username from the claim: a query username that differs is refused with 403, an equal one is accepted', async () => {
    const c = await start(HS256);
    const token = await sign({ sub: 'alice' });
    const r = await refused(c.url(0), 'mallory', { v1: true, token });
    expect(r.status).toBe(403);
    expect(r.body).toContain('username does not match the token');
    const alice = await c.v1(0, 'alice', { token });
    expect(alice.ofType('welcome')[0].user).toBe('alice');
    // The claim named by auth.usernameClaim, not sub.
    await c.close();
    const d = await start({ ...HS256, AUTH_USERNAME_CLAIM: 'preferred_username' });
    const dave = await d.v1(1, 'dave', { token: await sign({ sub: 'user-42', preferred_username: 'dave' }) });
    expect(dave.ofType('welcome')[0].user).toBe('dave');
  });

  it('refuses with 401 and a reason: missing, wrong key, expired, not yet valid, no exp, bad claim', async () => {
    const c = await start(HS256);
    const url = c.url(0);
    const missing = await rawUpgrade(url + '?username=alice', { 'Sec-WebSocket-Protocol': SUBPROTOCOL_V1 });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="chatfabric"');
    expect(missing.body).toContain('authentication required');
    const cases: [string, Promise<string>, string][] = [
      ['wrong key', sign({ sub: 'alice' }, OTHER_SECRET), 'bad signature'],
      ['expired', sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 60 }), 'expired'],
      ['not yet valid', sign({ sub: 'alice', nbf: '10m' }), 'not valid yet'],
      ['no exp', sign({ sub: 'alice', exp: null }), 'no expiry'],
      ['no sub', sign({}), '"sub" claim is not a valid username'],
      ['bad sub', sign({ sub: 'a.b' }), '"sub" claim is not a valid username'],
      ['alg none', Promise.resolve(new jose.UnsecuredJWT({ sub: 'alice' }).setExpirationTime('1h').encode()), 'not accepted'],
      ['tampered', sign({ sub: 'bob' }).then((t) => { const [h, , s] = t.split('.'); return `${h}.${Buffer.from(JSON.stringify({ sub: 'alice', exp: 9e9 })).toString('base64url')}.${s}`; }), 'bad signature'],
    ];
    for (const [what, token, reason] of cases) {
      const r = await refused(url, null, { v1: true, token: await token });
      expect(r.status, what).toBe(401);
      expect(r.body, what).toContain(reason);
    }
    const res = await rawUpgrade(url, { Authorization: `Bearer ${await sign({ sub: 'alice' }, OTHER_SECRET)}` });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    // None of it claimed a name.
    expect((await c.v1(0, 'alice', { token: await sign({ sub: 'alice' }) })).ofType('welcome')).toHaveLength(1);
    const metrics = await c.nodes[0].metrics.registry.getSingleMetricAsString('chatfabric_auth_refusals_total');
    expect(metrics).toMatch(/reason="invalid_token"[^\n]* 9/);
  });

  it('checks audience and issuer when configured', async () => {
    const c = await start({ ...HS256, AUTH_AUDIENCE: 'chat', AUTH_ISSUER: 'https://id.example' });
    const good = await c.v1(0, 'alice', { token: await sign({ sub: 'alice', aud: 'chat', iss: 'https://id.example' }) });
    expect(good.ofType('welcome')).toHaveLength(1);
    const aud = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob', aud: 'other', iss: 'https://id.example' }) });
    expect(aud).toEqual({ status: 401, body: 'invalid token: wrong audience' });
    const iss = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob', aud: 'chat', iss: 'https://evil.example' }) });
    expect(iss).toEqual({ status: 401, body: 'invalid token: wrong issuer' });
    const none = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob' }) });
    expect(none.status).toBe(401);
  });

  it('verifies RS256 with a PEM public key file, and refuses another key and an HS256 token made with the public key', async () => {
    const c = await start({ AUTH_MODE: 'jwt', AUTH_PUBLIC_KEY_FILE: rsaPemFile });
    const alice = await c.v1(0, 'alice', { token: await sign({ sub: 'alice' }, rsa.privateKey, 'RS256') });
    expect(alice.ofType('welcome')[0].user).toBe('alice');
    const other = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob' }, rsaOther.privateKey, 'RS256') });
    expect(other).toEqual({ status: 401, body: 'invalid token: bad signature' });
    // The classic confusion: the public key (which anyone has) used as an HMAC secret.
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const confused = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob' }, pem, 'HS256') });
    expect(confused).toEqual({ status: 401, body: 'invalid token: its algorithm is not accepted here' });
  });

  it('takes a PEM public key from the environment, its line breaks written as \\n', async () => {
    const pem = (ec.publicKey.export({ type: 'spki', format: 'pem' }) as string).trim().replace(/\n/g, '\\n');
    expect(pem).not.toContain('\n');
    const c = await start({ AUTH_MODE: 'jwt', AUTH_PUBLIC_KEY: pem });
    const alice = await c.v1(0, null, { token: await sign({ sub: 'alice' }, ec.privateKey, 'ES256') });
    expect(alice.ofType('welcome')[0].user).toBe('alice');
    const rs = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob' }, rsa.privateKey, 'RS256') });
    expect(rs.status).toBe(401);
  });

  it('verifies ES256 against a JWKS file, choosing the key by kid', async () => {
    const c = await start({ AUTH_MODE: 'jwt', AUTH_JWKS_FILE: jwksFile });
    const alice = await c.v1(1, 'alice', { token: await sign({ sub: 'alice' }, ec.privateKey, 'ES256', 'ec-1') });
    expect(alice.ofType('welcome')[0].user).toBe('alice');
    const wrongKey = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob' }, ecOther.privateKey, 'ES256', 'ec-1') });
    expect(wrongKey).toEqual({ status: 401, body: 'invalid token: bad signature' });
    const unknownKid = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob' }, ec.privateKey, 'ES256', 'ec-9') });
    expect(unknownKid).toEqual({ status: 401, body: 'invalid token: no single key of the key set matches it' });
    const rs = await refused(c.url(0), null, { v1: true, token: await sign({ sub: 'bob' }, rsa.privateKey, 'RS256', 'ec-1') });
    expect(rs).toEqual({ status: 401, body: 'invalid token: its algorithm is not accepted here' });
  });

  it('closes a connection whose token expires with 4008, and announces the leave', async () => {
    const c = await start({ ...HS256, AUTH_CLOCK_TOLERANCE_SEC: '0' });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const bob = await c.v1(1, 'bob', { token: await sign({ sub: 'bob' }) });
    const alice = await c.v1(0, 'alice', { token: await sign({ sub: 'alice', exp }) });
    const code = await alice.closed;
    expect(code).toBe(CloseCode.TokenExpired);
    expect(alice.closeReason).toBe('token expired');
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    await bob.waitFor((f) => f.type === 'user_left' && f.user === 'alice' && f.reason === 'disconnected', { timeoutMs: 10_000 });
    // bob's token has an hour left: still connected.
    expect(bob.closeCode).toBeNull();
  }, 20_000);
});

describe('Origin allowlist (ws.allowedOrigins)', () => {
  it('refuses other origins with 403, allows listed ones and requests without Origin', async () => {
    const c = await start({ ALLOWED_ORIGINS: 'http://127.0.0.1:8080, HTTP://LOCALHOST:8080/' });
    const r = await refused(c.url(0), 'alice', { v1: true, origin: 'https://evil.example' });
    expect(r).toEqual({ status: 403, body: 'origin not allowed: pages of this origin may not open chat connections' });
    expect((await refused(c.url(0), 'alice', { origin: 'null' })).status).toBe(403);
    expect((await refused(c.url(0), 'alice', { origin: 'http://localhost:8081' })).status).toBe(403);
    const local = await c.v1(0, 'alice', { origin: 'http://localhost:8080' });
    const ip = await c.v1(1, 'bob', { origin: 'http://127.0.0.1:8080' });
    const program = await c.v1(0, 'carol');
    for (const client of [local, ip, program]) expect(client.ofType('welcome')).toHaveLength(1);
  });

  it('allows any origin when the list is empty', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice', { origin: 'https://anywhere.example' });
    expect(alice.ofType('welcome')).toHaveLength(1);
  });
});

describe('auth configuration', () => {
  const load = (env: Record<string, string>) => loadConfig({ env: { CHATFABRIC_MODE: 'memory', ...env }, args: [] });
  const build = (env: Record<string, string>) => createAuthenticator(load(env));

  it('is off by default and then builds no authenticator', async () => {
    expect(load({}).auth.mode).toBe('off');
    expect(await build({})).toBeNull();
  });

  it('refuses a jwt mode without a key, a short secret, two public keys and an unknown algorithm', () => {
    expect(() => load({ AUTH_MODE: 'jwt' })).toThrow(/auth.mode jwt needs a key/);
    expect(() => load({ AUTH_MODE: 'jwt', AUTH_SECRET: 'short' })).toThrow(/at least 32 characters/);
    expect(() => load({ AUTH_MODE: 'jwt', AUTH_PUBLIC_KEY: 'x', AUTH_PUBLIC_KEY_FILE: rsaPemFile })).toThrow(/not both/);
    expect(() => load({ AUTH_MODE: 'jwt', AUTH_SECRET: SECRET, AUTH_ALGORITHMS: 'HS256,none' })).toThrow(/"none" is not one of/);
    expect(() => load({ ALLOWED_ORIGINS: 'https://chat.example.com/path' })).toThrow(/is not an origin/);
    expect(() => load({ ALLOWED_ORIGINS: 'chat.example.com' })).toThrow(/is not an origin/);
  });

  it('refuses keys that do not fit, at start', async () => {
    const bad = path.join(tmp, 'bad.pem');
    writeFileSync(bad, 'not a key');
    await expect(build({ AUTH_MODE: 'jwt', AUTH_PUBLIC_KEY_FILE: bad })).rejects.toThrow(ConfigError);
    await expect(build({ AUTH_MODE: 'jwt', AUTH_PUBLIC_KEY_FILE: path.join(tmp, 'missing.pem') })).rejects.toThrow(/ENOENT/);
    await expect(build({ AUTH_MODE: 'jwt', AUTH_PUBLIC_KEY_FILE: rsaPemFile, AUTH_ALGORITHMS: 'ES256' })).rejects.toThrow(/does not fit ES256/);
    await expect(build({ AUTH_MODE: 'jwt', AUTH_PUBLIC_KEY_FILE: rsaPemFile, AUTH_ALGORITHMS: 'HS256' })).rejects.toThrow(/no auth.secret/);
    writeFileSync(bad, '{"keys": []}');
    await expect(build({ AUTH_MODE: 'jwt', AUTH_JWKS_FILE: bad })).rejects.toThrow(/JWK Set/);
    expect(await build({ AUTH_MODE: 'jwt', AUTH_SECRET: SECRET, AUTH_PUBLIC_KEY_FILE: rsaPemFile })).not.toBeNull();
  });
});

describe('the client core (tui/core) with a token', () => {
  it('offers the token and the session as subprotocols, learns its name from the welcome, and stops on a 401 or a 4008', async () => {
    const { ChatClient } = await import('../../tui/core/client');
    const c = await start({ ...HS256, AUTH_CLOCK_TOLERANCE_SEC: '0' });
    const seen: string[] = [];
    c.nodes[0].server.prependListener('upgrade', (req) => seen.push(`${req.url} | ${req.headers['sec-websocket-protocol']}`));
    const exp = Math.floor(Date.now() / 1000) + 3;
    const alice = new ChatClient({ url: c.url(0), token: await sign({ sub: 'alice', exp }), backoff: { baseMs: 20, capMs: 50 } });
    try {
      await alice.connect();
      expect(alice.username).toBe('alice');
      expect(seen[0]).toMatch(/^\/ws\?room=global \| chatfabric\.v1, ?chatfabric\.session\.[A-Za-z0-9_-]{22}, ?chatfabric\.auth\.ey/);
      expect(seen[0].split(' | ')[0]).not.toContain(alice.session);
      // Expiry: closed with 4008 and not retried (the token would be refused).
      const closed = await new Promise<number>((resolve) => alice.once('closed', (code: number) => resolve(code)));
      expect(closed).toBe(CloseCode.TokenExpired);
      await new Promise((r) => setTimeout(r, 300));
      expect(alice.state).toBe('closed');
      expect(seen).toHaveLength(1);
    } finally {
      alice.close();
    }
    const bad = new ChatClient({ url: c.url(1), username: 'bob', token: await sign({ sub: 'bob' }, OTHER_SECRET) });
    await expect(bad.connect()).rejects.toThrow('HTTP 401: invalid token: bad signature');
    expect(bad.state).toBe('closed');
    expect(bad.refusal).toBe('HTTP 401: invalid token: bad signature');
    bad.close();
  }, 20_000);
});
