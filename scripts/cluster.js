// The local cluster's settings and the nginx configuration, shared by ecosystem.config.js and
// the start, stop and scale scripts. CommonJS on purpose: PM2 loads ecosystem files with require().
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

function int(value, fallback, name) {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(String(value))) throw new Error(`chatfabric: ${name} must be a whole number, got "${value}"`);
  return Number(value);
}

function memory(value, fallback, name) {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+(b|k|kb|m|mb|g|gb)?$/i.test(String(value))) throw new Error(`chatfabric: ${name} must be a size such as 256mb, got "${value}"`);
  return String(value).toLowerCase();
}

/** Every knob of the local cluster, from the environment, with its default. */
function settings(env = process.env) {
  const runDir = path.resolve(env.CHATFABRIC_RUN_DIR || path.join(ROOT, '.run'));
  const s = {
    root: ROOT,
    runDir,
    /** PM2 process names start with this (tests use their own). */
    name: env.CHATFABRIC_NAME || 'chatfabric',
    workers: int(env.CHATFABRIC_WORKERS, 2, 'CHATFABRIC_WORKERS'),
    workerPortBase: int(env.CHATFABRIC_WORKER_PORT_BASE, 9001, 'CHATFABRIC_WORKER_PORT_BASE'),
    publicPort: int(env.CHATFABRIC_PORT, 8080, 'CHATFABRIC_PORT'),
    publicHost: env.CHATFABRIC_HOST || '127.0.0.1',
    natsPort: int(env.CHATFABRIC_NATS_PORT, 14222, 'CHATFABRIC_NATS_PORT'),
    natsMonitorPort: int(env.CHATFABRIC_NATS_MONITOR_PORT, 18222, 'CHATFABRIC_NATS_MONITOR_PORT'),
    redisPort: int(env.CHATFABRIC_REDIS_PORT, 16379, 'CHATFABRIC_REDIS_PORT'),
    // The embedded Redis' memory limit. Full history (history.maxRooms rooms at history.maxBytes)
    // measured at most 98 MB, presence about 900 B per user. At the limit writes fail
    // (noeviction) instead of a claim being evicted.
    redisMaxMemory: memory(env.CHATFABRIC_REDIS_MAXMEMORY, '256mb', 'CHATFABRIC_REDIS_MAXMEMORY'),
    /** External servers: when set, no embedded nats-server / redis-server is started. */
    natsUrl: env.NATS_URL || '',
    redisUrl: env.REDIS_URL || '',
    drainMs: int(env.DRAIN_TIMEOUT_MS, 8000, 'DRAIN_TIMEOUT_MS'),
    /** Connections one worker accepts (the worker's limits.maxConnections); sizes nginx. */
    perWorker: int(env.MAX_CONNECTIONS, 15000, 'MAX_CONNECTIONS'),
    /** nginx worker processes; 0: enough for every worker's connections, at least one per core. */
    nginxWorkers: int(env.CHATFABRIC_NGINX_WORKERS, 0, 'CHATFABRIC_NGINX_WORKERS'),
    /** WebSockets one client address may hold through nginx (limit_conn); 0: no limit. */
    connPerAddress: int(env.CHATFABRIC_CONN_PER_ADDRESS, 200, 'CHATFABRIC_CONN_PER_ADDRESS'),
    /** Handshakes per second one client address may make through nginx (limit_req); 0: no limit. */
    handshakesPerSec: int(env.CHATFABRIC_HANDSHAKES_PER_SEC, 20, 'CHATFABRIC_HANDSHAKES_PER_SEC'),
    /** Handshakes one client address may make at once above that rate (limit_req burst). */
    handshakeBurst: int(env.CHATFABRIC_HANDSHAKE_BURST, 40, 'CHATFABRIC_HANDSHAKE_BURST'),
    maxMemory: env.CHATFABRIC_MAX_MEMORY || '1G',
    // V8's young generation per worker, MB per semi-space (0: Node's default, up to 16 on 64-bit).
    // 2 keeps about 2 KB of idle RSS per connection off a worker at 20,000 connections
    // (docs/performance.md); short-lived chat garbage still dies young at that size.
    semiSpaceMb: int(env.CHATFABRIC_SEMI_SPACE_MB, 2, 'CHATFABRIC_SEMI_SPACE_MB'),
    /**
     * Origins whose pages may open connections (the workers' ALLOWED_ORIGINS): by default the
     * public port's own, where a browser client served by nginx at / lives. ALLOWED_ORIGINS=
     * (empty) allows any page.
     */
    allowedOrigins: env.ALLOWED_ORIGINS,
    /**
     * The built browser client nginx serves from disk (npm run build writes it): absolute, as
     * nginx's root must be. WEB_ROOT, the workers' own setting, moves both.
     */
    webRoot: path.resolve(env.WEB_ROOT || path.join(ROOT, 'dist', 'web')),
    /** Development mode (npm run dev): tsc --watch and workers restarted on change. */
    dev: ['1', 'true', 'yes'].includes(String(env.CHATFABRIC_DEV || '').toLowerCase()),
  };
  if (s.workers < 1 || s.workers > 64) throw new Error('chatfabric: CHATFABRIC_WORKERS must be between 1 and 64');
  if (s.allowedOrigins === undefined) {
    const hosts = new Set(['127.0.0.1', 'localhost', s.publicHost === '0.0.0.0' ? '127.0.0.1' : s.publicHost]);
    s.allowedOrigins = [...hosts].map((h) => `http://${h}:${s.publicPort}`).join(',');
  }
  return s;
}

/** Absolute path of a server binary (Debian puts nats-server and nginx in /usr/sbin). */
function binary(name) {
  for (const dir of [...(process.env.PATH || '').split(':'), '/usr/sbin', '/usr/bin', '/sbin']) {
    const p = path.join(dir, name);
    if (dir && fs.existsSync(p)) return p;
  }
  throw new Error(`chatfabric: ${name} not found; run "npm start" (it installs it) or apt-get install ${name}`);
}

function dirs(s) {
  const d = {
    logs: path.join(s.runDir, 'logs'),
    nats: path.join(s.runDir, 'nats'),
    redis: path.join(s.runDir, 'redis'),
    nginx: path.join(s.runDir, 'nginx'),
    nginxTemp: path.join(s.runDir, 'nginx', 'temp'),
  };
  for (const dir of Object.values(d)) fs.mkdirSync(dir, { recursive: true });
  // nginx's worker processes drop root privileges; they must still write their temp files.
  fs.chmodSync(d.nginxTemp, 0o777);
  return d;
}

/** The user name workers present to the embedded nats-server. */
const NATS_USER = 'chatfabric';

/**
 * The embedded servers' credentials, generated once per run directory into <runDir>/secrets
 * (mode 0700, files 0600) and reused by every later start: only processes given them (the
 * workers, through their environment) can publish into NATS or use Redis. The servers read them
 * from configuration files there, so they never show in a process list.
 */
function secrets(s) {
  const dir = path.join(s.runDir, 'secrets');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const secret = (name) => {
    const file = path.join(dir, name);
    try {
      const value = fs.readFileSync(file, 'utf8').trim();
      if (value) return value;
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    // base64url: nothing to quote in a configuration file or a URL.
    fs.writeFileSync(file, `${crypto.randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    return fs.readFileSync(file, 'utf8').trim();
  };
  const file = (name, text) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text, { mode: 0o600 });
    fs.chmodSync(p, 0o600);
    return p;
  };
  const natsPassword = secret('nats-password');
  const redisPassword = secret('redis-password');
  return {
    dir,
    natsUser: NATS_USER,
    natsPassword,
    redisPassword,
    natsConf: file('nats.conf', `# Generated by scripts/cluster.js from nats-password.\nauthorization {\n  user: "${NATS_USER}"\n  password: "${natsPassword}"\n}\n`),
    redisConf: file('redis.conf', `# Generated by scripts/cluster.js from redis-password.\nrequirepass ${redisPassword}\n`),
  };
}

/** Descriptors one nginx worker may use: the machine allows 20,000 per process; keep a margin. */
const NGINX_FDS = 19000;

/**
 * nginx worker processes for `count` chat workers. A proxied WebSocket holds two descriptors in
 * one nginx worker, so one nginx worker carries at most 9,500: with a single one, as before,
 * 4,500 idle connections from anyone filled the public port. Enough workers for every chat
 * worker's capacity, and at least one per core so that forwarding is not held to one core.
 */
function nginxWorkerCount(s, count) {
  if (s.nginxWorkers > 0) return s.nginxWorkers;
  return Math.min(64, Math.max(os.cpus().length, Math.ceil((2 * count * s.perWorker) / NGINX_FDS)));
}

/** The per-address limits of the WebSocket location, and the zones they count in. */
function addressLimits(s) {
  const zones = [];
  const location = [];
  if (s.connPerAddress > 0) {
    zones.push('limit_conn_zone $binary_remote_addr zone=chatfabric_conn:10m;');
    location.push(`limit_conn chatfabric_conn ${s.connPerAddress};`);
  } else {
    location.push('# no limit of connections per address (CHATFABRIC_CONN_PER_ADDRESS=0)');
  }
  if (s.handshakesPerSec > 0) {
    zones.push(`limit_req_zone $binary_remote_addr zone=chatfabric_handshakes:10m rate=${s.handshakesPerSec}r/s;`);
    // nodelay: a handshake within the burst is served at once, one beyond it refused at once;
    // queueing it would hold the client's socket for nothing.
    location.push(`limit_req zone=chatfabric_handshakes burst=${s.handshakeBurst} nodelay;`);
  } else {
    location.push('# no limit of handshakes per address (CHATFABRIC_HANDSHAKES_PER_SEC=0)');
  }
  if (zones.length === 0) zones.push('# (none: both limits are off)');
  return { zones: zones.join('\n  '), location: location.join('\n      ') };
}

/**
 * Headers on the page and its assets: the ones the workers send (src/web.ts), from one file.
 * nginx sends them with 'always', on 404s too.
 */
const SECURITY_HEADERS = require('../src/web-headers.json');

/**
 * The types nginx gives the client's files, as src/web.ts's CONTENT_TYPES (charset added by
 * charset_types). Explicit, so that a distribution's mime.types (or its absence: nginx's
 * built-in list has no js or css) cannot change what the browser is told.
 */
const WEB_TYPES = {
  'text/html': ['html'],
  'text/javascript': ['js', 'mjs'],
  'text/css': ['css'],
  'image/svg+xml': ['svg'],
  'image/png': ['png'],
  'image/x-icon': ['ico'],
  'application/json': ['json', 'map'],
  'text/plain': ['txt'],
  'font/woff2': ['woff2'],
};

/** The directives every location that serves a file of the client carries. */
function staticFile(indent) {
  const headers = Object.entries(SECURITY_HEADERS).map(([name, value]) => `add_header ${name} "${value}" always;`);
  // Not hashed file names: the browser revalidates each load (ETag, on by default) and gets 304s.
  return ['add_header Cache-Control "no-cache" always;', ...headers].join(`\n${indent}`);
}

/**
 * The nginx configuration for the given worker ports. Clients are sticky by username
 * (`hash $arg_username consistent`): the terminal client keeps no cookies, the username is in
 * every handshake, it spreads users evenly, and adding or removing a worker moves only that
 * worker's share of users.
 */
function nginxConf(s, ports) {
  const d = dirs(s);
  const limits = addressLimits(s);
  const servers = ports.map((p) => `    server 127.0.0.1:${p} max_fails=3 fail_timeout=2s;`).join('\n');
  return `# Generated by scripts/cluster.js for ${ports.length} worker(s); do not edit, run "npm run scale".
worker_processes ${nginxWorkerCount(s, ports.length)};
worker_rlimit_nofile 20000;
pid ${d.nginx}/nginx.pid;
error_log ${d.logs}/nginx-error.log warn;

events {
  # Counts client and upstream connections alike: a proxied WebSocket takes two.
  worker_connections ${NGINX_FDS};
}

http {
  # No nginx version in the Server header or on error pages.
  server_tokens off;
  # No query string in the log. Secrets never travel in it (they are Sec-WebSocket-Protocol values
  # or an Authorization header, which nginx does not log), but the log needs only the user.
  log_format chatfabric '$remote_addr [$time_local] "$request_method $uri" $status '
                        'upstream=$upstream_addr rt=$request_time user=$arg_username';
  access_log ${d.logs}/nginx-access.log chatfabric;
  client_body_temp_path ${d.nginxTemp}/body;
  proxy_temp_path ${d.nginxTemp}/proxy;
  fastcgi_temp_path ${d.nginxTemp}/fastcgi;
  uwsgi_temp_path ${d.nginxTemp}/uwsgi;
  scgi_temp_path ${d.nginxTemp}/scgi;

  # No include of /etc/nginx/mime.types: the public port serves the browser client's files only.
  types {
    ${Object.entries(WEB_TYPES).map(([type, exts]) => `${type} ${exts.join(' ')};`).join('\n    ')}
  }
  default_type application/octet-stream;
  charset utf-8;
  # text/html has a charset by default.
  charset_types text/javascript text/css application/json text/plain;

  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }

  # Per client address, in zones shared by every nginx worker (one address in 64 bytes: 10m
  # holds about 160,000). Refusals answer 429, so a client can tell them from a server fault;
  # they are in the access log already, so the error log leaves them out.
  ${limits.zones}
  limit_conn_status 429;
  limit_req_status 429;
  limit_conn_log_level info;
  limit_req_log_level info;

  upstream chatfabric_workers {
    hash $arg_username consistent;
${servers}
  }

  server {
    # reuseport: one listening socket per nginx worker, so the kernel spreads connections
    # over all of them instead of whichever wakes first.
    listen ${s.publicHost}:${s.publicPort} reuseport;
    root ${s.webRoot};
    # As the workers, which read nothing through a symlink: none below the root is followed.
    disable_symlinks on from=$document_root;
    # Everything public is read-only: the page, its files, its settings and the WebSocket
    # handshake (a GET).
    if ($request_method !~ ^(GET|HEAD)$) {
      return 405;
    }
    # Only the browser client and the WebSocket endpoint are public: /healthz, /readyz and
    # /metrics name workers and versions, and stay on the workers' own ports.
    location / {
      default_type text/plain;
      return 404 "not found\\n";
    }
    # The page and its files, straight from disk (the workers could serve them too, from memory,
    # where no nginx of ours is in front). $uri is normalised first, so /assets/../x is /x, here a
    # 404; try_files $uri matches files, not directories.
    location = / {
      try_files /index.html @chatfabric_not_built;
      ${staticFile('      ')}
    }
    location = /index.html {
      try_files $uri @chatfabric_not_built;
      ${staticFile('      ')}
    }
    location /assets/ {
      try_files $uri =404;
      ${staticFile('      ')}
    }
    # As the workers: no dotfiles (a regular expression wins over the /assets/ prefix).
    location ~ /\\. {
      default_type text/plain;
      return 404 "not found\\n";
    }
    location @chatfabric_not_built {
      default_type text/plain;
      return 404 "the web client is not built: run npm run build\\n";
    }
    # The page's settings come from the workers' configuration (auth mode, limits).
    location = /client.json {
      proxy_pass http://chatfabric_workers;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 3;
    }
    location @chatfabric_limited {
      default_type text/plain;
      if ($limit_conn_status = REJECTED) {
        return 429 "too many connections from your address (at most ${s.connPerAddress}): close one first\\n";
      }
      return 429 "too many connection attempts from your address: retry with backoff\\n";
    }
    location = /ws {
      ${limits.location}
      error_page 429 @chatfabric_limited;
      proxy_pass http://chatfabric_workers;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      # The Host as the browser sent it, port included ($host drops the port).
      proxy_set_header Host $http_host;
      # nginx is the edge: an X-Forwarded-For from the client proves nothing, so the workers get
      # the address nginx sees (they trust it from limits.trustedProxies, for their own limits).
      proxy_set_header X-Forwarded-For $remote_addr;
      # Above the workers' 25 s ping interval, so idle chats are not cut.
      proxy_read_timeout 75s;
      proxy_send_timeout 75s;
      proxy_connect_timeout 2s;
      # Passive failover: a worker that is down or draining (503) hands the client to the next.
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 3;
    }
  }
}
`;
}

function nginxPaths(s) {
  const d = dirs(s);
  return { prefix: d.nginx, conf: path.join(d.nginx, 'nginx.conf'), errorLog: path.join(d.logs, 'nginx-error.log') };
}

/** Writes the nginx configuration; returns its path. */
function writeNginxConf(s, ports) {
  const { conf } = nginxPaths(s);
  fs.writeFileSync(conf, nginxConf(s, ports));
  return conf;
}

/** The arguments every nginx invocation of this cluster takes. */
function nginxArgs(s) {
  const { prefix, conf, errorLog } = nginxPaths(s);
  return ['-p', prefix, '-c', conf, '-e', errorLog];
}

/** Tells the running nginx to load the current configuration (old connections stay up). */
function reloadNginx(s) {
  execFileSync(binary('nginx'), [...nginxArgs(s), '-s', 'reload'], { stdio: 'inherit' });
}

function workerPorts(s, count) {
  return Array.from({ length: count }, (_, i) => s.workerPortBase + i);
}

module.exports = { settings, binary, dirs, secrets, nginxConf, writeNginxConf, nginxArgs, reloadNginx, workerPorts, ROOT };
