/**
 * The browser client over HTTP: the built page and its assets (dist/web, made by
 * scripts/build.js), read once at start and served from memory, and the settings the page reads
 * from /client.json before it connects. Where no nginx of ours is in front (Kubernetes), the
 * worker is what serves the page; scripts/cluster.js gives the local nginx the same headers.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { ConfigShape } from './config';
import type { Logger } from './log';
import { DEFAULT_ROOM } from './protocol';
import securityHeaders from './web-headers.json';

/** The build's output beside this compiled file: dist/src/web.js -> dist/web. */
export const DEFAULT_WEB_ROOT = path.join(__dirname, '..', 'web');

/**
 * On the page, its assets and the answers about them. The page loads only its own modules and
 * stylesheet (no inline script or style), so 'self' is all it needs, plus ws:/wss: for the chat
 * connection (older browsers do not count ws: to the same host as 'self'). In a JSON file because
 * the local nginx sends the same ones (scripts/cluster.js reads it).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = securityHeaders;

/** Content types by file extension; anything else is application/octet-stream (with nosniff, never run). */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};
const OTHER_TYPE = 'application/octet-stream';

/** What the page is told when the build has not run: it is the first thing a newcomer meets. */
export const NOT_BUILT = 'the web client is not built: run npm run build\n';

/** What the browser client needs to know about this server before it connects (GET /client.json). */
export interface ClientSettings {
  /** "none": the user types a name; "jwt": the page needs a token (auth.mode jwt). */
  auth: 'none' | 'jwt';
  /** Longest chat or direct message in code points (limits.maxMessageLength). */
  maxMessageLength: number;
  /** The room a connection starts in when it names none. */
  room: string;
}

export function clientSettings(config: ConfigShape): ClientSettings {
  return { auth: config.auth.mode === 'jwt' ? 'jwt' : 'none', maxMessageLength: config.limits.maxMessageLength, room: DEFAULT_ROOM };
}

/** Answers GET /client.json; never cached, so a changed setting reaches the next page load. */
export function serveClientSettings(req: http.IncomingMessage, res: http.ServerResponse, settings: ClientSettings): void {
  const body = Buffer.from(JSON.stringify(settings));
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES['.json'],
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

interface WebFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** The page and its assets, by URL path, as the build left them. */
export class WebClient {
  private constructor(
    readonly root: string,
    /** null: not built (or unreadable); every web path answers NOT_BUILT. */
    private readonly files: ReadonlyMap<string, WebFile> | null,
  ) {}

  /**
   * Reads index.html and everything under assets/ from `root` once. Dotfiles, symlinks and other
   * non-files are left out, so nothing outside the root, and nothing hidden in it, can be served:
   * a request is only ever looked up in this map, never turned into a path on disk. A missing
   * build logs one warning; the worker still serves chat.
   */
  static load(root: string, log: Logger): WebClient {
    const files = new Map<string, WebFile>();
    try {
      const index = path.join(root, 'index.html');
      if (!fs.lstatSync(index).isFile()) throw Object.assign(new Error(`${index} is not a file`), { code: 'ENOTFILE' });
      add(files, '/index.html', index);
      readTree(files, path.join(root, 'assets'), '/assets');
    } catch (err) {
      log.warn({ root, reason: (err as Error).message }, `${NOT_BUILT.trim()} (or set WEB_ROOT); / answers 404`);
      return new WebClient(root, null);
    }
    const bytes = [...files.values()].reduce((n, f) => n + f.body.length, 0);
    log.info({ root, files: files.size, bytes }, 'serving the web client');
    return new WebClient(root, files);
  }

  /** The URL paths served, sorted (for tests and logs). */
  paths(): string[] {
    return [...(this.files?.keys() ?? [])].sort();
  }

  /**
   * Answers GET and HEAD of /, /index.html and /assets/...; returns false, having written
   * nothing, for any other path.
   */
  serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): boolean {
    if (pathname !== '/' && pathname !== '/index.html' && !pathname.startsWith('/assets/')) return false;
    const headers: Record<string, string | number> = { ...SECURITY_HEADERS, 'Cache-Control': 'no-cache' };
    if (!this.files) {
      res.writeHead(404, { ...headers, 'Content-Type': CONTENT_TYPES['.txt'] });
      res.end(req.method === 'HEAD' ? undefined : NOT_BUILT);
      return true;
    }
    const file = this.files.get(pathname === '/' ? '/index.html' : decodePath(pathname));
    if (!file) {
      res.writeHead(404, { ...headers, 'Content-Type': CONTENT_TYPES['.txt'] });
      res.end(req.method === 'HEAD' ? undefined : 'not found\n');
      return true;
    }
    // File names are not hashed, so every load revalidates (no-cache) and mostly gets a 304.
    headers.ETag = file.etag;
    if (etagMatches(req.headers['if-none-match'], file.etag)) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, 'Content-Type': file.type, 'Content-Length': file.body.length });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  }
}

/** The WebClient the configuration asks for; null when web.enabled is off. */
export function webClientFor(config: ConfigShape, log: Logger): WebClient | null {
  return config.web.enabled ? WebClient.load(config.web.root ? path.resolve(config.web.root) : DEFAULT_WEB_ROOT, log) : null;
}

function add(files: Map<string, WebFile>, urlPath: string, file: string): void {
  const body = fs.readFileSync(file);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  files.set(urlPath, { body, etag, type: CONTENT_TYPES[path.extname(file).toLowerCase()] ?? OTHER_TYPE });
}

function readTree(files: Map<string, WebFile>, dir: string, urlPath: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    // A page without assets is still a page.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    // Dirent types come from lstat: a symlink is neither, so it is never followed out of the root.
    if (entry.isDirectory()) readTree(files, path.join(dir, entry.name), `${urlPath}/${entry.name}`);
    else if (entry.isFile()) add(files, `${urlPath}/${entry.name}`, path.join(dir, entry.name));
  }
}

/** A URL path with its %-escapes decoded; one that does not decode matches no file. */
function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return '';
  }
}

/** If-None-Match (RFC 9110 13.1.2): "*", or a list of tags compared weakly (W/ ignored). */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
