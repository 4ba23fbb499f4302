/**
 * Optional token authentication (auth.mode jwt): verifies a signed JWT with jose before the
 * WebSocket upgrade and turns it into the connection's identity (its username claim and expiry).
 * HS256/384/512 use the shared secret; RS*, PS*, ES* and EdDSA a PEM public key or a JWKS file.
 * The key is chosen by the token's algorithm, never the other way round, so a token cannot pass an
 * RSA public key off as an HMAC secret.
 */
import { createPublicKey, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, splitList, type ConfigShape } from './config';
import { isValidUsername } from './protocol';

import type { FlattenedJWSInput, JWSHeaderParameters } from 'jose' with { 'resolution-mode': 'import' };

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } });

/** Who a verified token says the client is. */
export interface Identity {
  user: string;
  /** When the token expires (ms since the epoch, clock tolerance included): the connection is closed then. */
  expiresAt: number;
}

export interface Authenticator {
  /** Verifies `token`; rejects with AuthError, whose message is the 401's reason. */
  verify(token: string): Promise<Identity>;
}

/** A token that does not authenticate: its message says why (it never contains the token). */
export class AuthError extends Error {
  override name = 'AuthError';
}

// jose 6 is ESM only: a dynamic import() (kept as such by TypeScript's Node16 output) loads it
// from this CommonJS build.
let jose: Promise<Jose> | null = null;
const loadJose = (): Promise<Jose> => (jose ??= import('jose'));

const HMAC = /^HS/;

/**
 * The authenticator of the configuration, or null when auth.mode is off. Reads the key files and
 * checks the keys against the algorithms now, so a bad key stops the worker at start
 * (ConfigError), not at the first connection.
 */
export async function createAuthenticator(config: ConfigShape): Promise<Authenticator | null> {
  const auth = config.auth;
  if (auth.mode === 'off') return null;
  const { jwtVerify, importSPKI, createLocalJWKSet, errors } = await loadJose();

  // An environment variable often holds a PEM on one line, its line breaks written as \n.
  const pem = auth.publicKeyFile ? readKeyFile(auth.publicKeyFile, 'auth.publicKeyFile') : auth.publicKey.replace(/\\n/g, '\n');
  let jwks: ReturnType<Jose['createLocalJWKSet']> | null = null;
  let jwksAlgs: string[] = [];
  if (auth.jwksFile) {
    let set: { keys?: unknown };
    try {
      set = JSON.parse(readKeyFile(auth.jwksFile, 'auth.jwksFile'));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`invalid configuration: auth.jwksFile (${auth.jwksFile}) is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(set?.keys) || set.keys.length === 0) {
      throw new ConfigError(`invalid configuration: auth.jwksFile (${auth.jwksFile}) must be a JWK Set: {"keys": [...]}`);
    }
    try {
      jwks = createLocalJWKSet(set as Parameters<Jose['createLocalJWKSet']>[0]);
    } catch (err) {
      throw new ConfigError(`invalid configuration: auth.jwksFile (${auth.jwksFile}): ${(err as Error).message}`);
    }
    jwksAlgs = (set.keys as Record<string, unknown>[]).map(jwkAlgorithm).filter((a): a is string => a !== null);
  }
  if (pem && jwks) throw new ConfigError('invalid configuration: set a public key or a JWKS file for auth, not both');

  const pemAlgs = pem ? pemAlgorithms(pem) : [];
  const fromKeys = [...(auth.secret ? ['HS256'] : []), ...pemAlgs.slice(0, 1), ...jwksAlgs];
  const algorithms = [...new Set(auth.algorithms ? splitList(auth.algorithms) : fromKeys)];
  for (const alg of algorithms) {
    if (HMAC.test(alg) ? !auth.secret : !pem && !jwks) {
      throw new ConfigError(
        `invalid configuration: auth.algorithms lists ${alg} but no ${HMAC.test(alg) ? 'auth.secret' : 'public key or JWKS file'} is configured for it`,
      );
    }
  }
  if (algorithms.length === 0) throw new ConfigError('invalid configuration: auth: no algorithm fits the configured keys; set auth.algorithms');

  // Keys imported once, per algorithm: handed raw bytes, jose would import the secret again on
  // every verification (about half of an HS256 check's time).
  const keys = new Map<string, Awaited<ReturnType<Jose['importSPKI']>>>();
  for (const alg of algorithms.filter((a) => HMAC.test(a))) {
    const hash = `SHA-${alg.slice(2)}`;
    keys.set(alg, await webcrypto.subtle.importKey('raw', new TextEncoder().encode(auth.secret), { name: 'HMAC', hash }, false, ['verify']));
  }
  if (pem) {
    for (const alg of algorithms.filter((a) => !HMAC.test(a))) {
      try {
        keys.set(alg, await importSPKI(pem, alg));
      } catch (err) {
        throw new ConfigError(`invalid configuration: the auth public key does not fit ${alg}: ${(err as Error).message}`);
      }
    }
  }

  const options = {
    algorithms,
    issuer: auth.issuer || undefined,
    audience: auth.audience || undefined,
    clockTolerance: auth.clockToleranceSec,
    // A token without an expiry would stay good for ever once it leaks.
    requiredClaims: ['exp'],
  };
  const claim = auth.usernameClaim;
  const toleranceMs = auth.clockToleranceSec * 1000;

  return {
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        const result = await jwtVerify(
          token,
          async (header: JWSHeaderParameters, jws: FlattenedJWSInput) => {
            if (jwks && !HMAC.test(header.alg ?? '')) return jwks(header, jws);
            return keys.get(header.alg ?? '')!;
          },
          options,
        );
        payload = result.payload;
      } catch (err) {
        throw new AuthError(reason(err, errors));
      }
      const user = payload[claim];
      if (!isValidUsername(user)) {
        throw new AuthError(`invalid token: its "${claim}" claim is not a valid username (1-32 letters, digits, "_" or "-")`);
      }
      return { user, expiresAt: (payload.exp as number) * 1000 + toleranceMs };
    },
  };
}

/** The 401's reason for a jose error: what is wrong with the token, in a few words. */
function reason(err: unknown, errors: Jose['errors']): string {
  if (err instanceof errors.JWTExpired) return 'invalid token: expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'invalid token: not valid yet (nbf)';
    if (err.claim === 'aud') return 'invalid token: wrong audience';
    if (err.claim === 'iss') return 'invalid token: wrong issuer';
    if (err.claim === 'exp') return 'invalid token: it has no expiry (exp)';
    return `invalid token: claim "${err.claim}" is invalid`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid token: bad signature';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'invalid token: its algorithm is not accepted here';
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return 'invalid token: no single key of the key set matches it';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'invalid token: not a well-formed JWT';
  if (err instanceof errors.JOSENotSupported) return 'invalid token: its algorithm or key type is not supported';
  return 'invalid token: it cannot be verified';
}

function readKeyFile(file: string, option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${option}: ${(err as Error).message}`);
  }
}

/** The algorithms a PEM public key can verify, the usual one first. */
function pemAlgorithms(pem: string): string[] {
  let key;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new ConfigError(`invalid configuration: the auth public key is not a PEM public key: ${(err as Error).message}`);
  }
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : [];
    }
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** The algorithm of a JWK: its `alg`, or the usual one for its key type and curve. */
function jwkAlgorithm(jwk: Record<string, unknown>): string | null {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC') return jwk.crv === 'P-256' ? 'ES256' : jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : null;
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return null;
}
