/**
 * Where a client's secrets travel in the handshake. Browsers cannot set headers on a WebSocket,
 * but they can offer subprotocols, and nothing logs those: neither nginx (its error log writes
 * the request line, query string included) nor the workers. So the session token and the JWT are
 * offered as extra `Sec-WebSocket-Protocol` values next to `chatfabric.v1`; the server selects
 * only `chatfabric.v1`, never a value that carries a secret. Non-browser clients may send the JWT
 * as `Authorization: Bearer <jwt>` instead. This module imports nothing from Node or ws.
 */
import { SUBPROTOCOL_V1 } from './frames.js';
import { isValidSession } from './names.js';

/** `chatfabric.session.<token>`: the session token that lets a reconnect take over its own name. */
export const SESSION_PROTOCOL_PREFIX = 'chatfabric.session.';
/** `chatfabric.auth.<jwt>`: the signed token of `auth.mode` jwt. */
export const AUTH_PROTOCOL_PREFIX = 'chatfabric.auth.';

// A compact JWS: three base64url parts joined by dots. Anything else is no JWT (and, with other
// characters, no valid subprotocol either).
const JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Longest JWT accepted: far above an RS256 token with a few claims, far below header limits. */
export const MAX_TOKEN_LENGTH = 4096;

export function isWellFormedJwt(token: unknown): token is string {
  return typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH && JWT_PATTERN.test(token);
}

/** The subprotocols a client offers: the dialect and, as further values, its credentials. */
export function offeredProtocols(opts: { v1: boolean; session?: string; token?: string }): string[] {
  const out: string[] = [];
  if (opts.v1) out.push(SUBPROTOCOL_V1);
  if (opts.session) out.push(SESSION_PROTOCOL_PREFIX + opts.session);
  if (opts.token) out.push(AUTH_PROTOCOL_PREFIX + opts.token);
  return out;
}

export interface OfferedCredentials {
  /** `chatfabric.v1` was offered: the extended dialect. */
  v1: boolean;
  session?: string;
  token?: string;
}

/** A handshake whose credentials cannot be read: answered with 400 and this message. */
export class CredentialError extends Error {
  override name = 'CredentialError';
}

/**
 * Reads the dialect and the credentials from the handshake's `Sec-WebSocket-Protocol` and
 * `Authorization` headers. Throws CredentialError (never echoing a secret) when they are malformed.
 */
export function readCredentials(protocolHeader: string | undefined, authorization: string | undefined): OfferedCredentials {
  const out: OfferedCredentials = { v1: false };
  for (const raw of (protocolHeader ?? '').split(',')) {
    const value = raw.trim();
    if (value === SUBPROTOCOL_V1) out.v1 = true;
    else if (value.startsWith(SESSION_PROTOCOL_PREFIX)) {
      if (out.session !== undefined) throw new CredentialError('offer one chatfabric.session.<token> subprotocol, not several');
      out.session = value.slice(SESSION_PROTOCOL_PREFIX.length);
      if (!isValidSession(out.session)) throw new CredentialError('invalid session: use 16-128 letters, digits, "_" or "-"');
    } else if (value.startsWith(AUTH_PROTOCOL_PREFIX)) {
      if (out.token !== undefined) throw new CredentialError('offer one chatfabric.auth.<jwt> subprotocol, not several');
      out.token = value.slice(AUTH_PROTOCOL_PREFIX.length);
      if (!isWellFormedJwt(out.token)) throw new CredentialError('invalid token: not a well-formed JWT');
    }
  }
  if (authorization !== undefined) {
    const m = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m) throw new CredentialError('invalid Authorization header: use "Bearer <jwt>"');
    if (out.token !== undefined) throw new CredentialError('send the token once: as a chatfabric.auth.<jwt> subprotocol or in Authorization, not both');
    if (!isWellFormedJwt(m[1])) throw new CredentialError('invalid token: not a well-formed JWT');
    out.token = m[1];
  }
  return out;
}

/** Query parameters that once carried, or might be mistaken to carry, a secret in the URL. */
export const SECRET_QUERY_PARAMS: readonly string[] = ['session', 'token', 'access_token', 'jwt'];
