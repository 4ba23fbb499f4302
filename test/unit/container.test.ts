/**
 * The Dockerfile, .dockerignore and docker-compose.yml, checked statically (no container engine
 * runs on the project's machines) against the application: its config schema, its endpoints,
 * the chart and the local cluster's ecosystem file and nginx configuration.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/config';
import { configEnvNames } from '../support/config-env';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-container-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cluster = require('../../scripts/cluster.js');
const local = cluster.settings({});
const pkg = JSON.parse(read('package.json'));

/** The Dockerfile's instructions by stage, continuation lines joined, comments dropped. */
function dockerStages(text: string): string[][] {
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM /i.test(line)) stages.push([]);
    stages.at(-1)!.push(line);
  }
  return stages;
}

/** The directives of one nginx location block, one per line. */
function location(conf: string, name: string): string[] {
  const start = conf.indexOf(`location ${name} {`);
  if (start < 0) throw new Error(`no location ${name}`);
  const body = conf.slice(start, conf.indexOf('}', start));
  return body.split('\n').slice(1).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

describe('the Dockerfile', () => {
  const stages = dockerStages(read('Dockerfile'));
  const final = stages.at(-1)!;
  const find = (prefix: string) => final.filter((l) => l.startsWith(`${prefix} `));

  it('builds in one stage with dev dependencies and runs with production ones only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0].join('\n')).toMatch(/npm ci(?! .*--omit=dev)/);
    // The build everyone runs (npm run build): both TypeScript projects and the page into dist/web.
    expect(stages[0].filter((l) => l.startsWith('RUN ') && !l.startsWith('RUN npm ci'))).toEqual(['RUN node scripts/build.js']);
    expect(pkg.scripts.build).toBe('node scripts/build.js');
    const installs = stages.flat().filter((l) => l.startsWith('RUN npm ci'));
    expect(installs.some((l) => l.includes('--omit=dev'))).toBe(true);
    expect(final.filter((l) => l.startsWith('RUN npm'))).toEqual([]);
    expect(find('COPY').some((l) => /--from=\S+ \/app\/node_modules/.test(l))).toBe(true);
  });

  it('the build stage copies everything scripts/build.js compiles and copies', () => {
    const copied = stages[0].filter((l) => l.startsWith('COPY ')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    const build = read('scripts/build.js');
    expect(copied).toEqual(expect.arrayContaining(['scripts/build.js', 'web']));
    for (const project of ['tsconfig.json', 'tsconfig.web.json']) {
      expect(build, project).toContain(`'${project}'`);
      expect(copied, project).toContain(project);
      // tsconfig.web.json has comments: JSON with them dropped.
      const include: string[] = JSON.parse(read(project).replace(/^\s*\/\/.*$/gm, '')).include;
      for (const glob of include) expect(copied, `${project}: ${glob}`).toContain(glob.split('/**')[0]);
    }
    // The page and its files, which build.js copies from web/public.
    expect(build).toContain("path.join(root, 'web', 'public')");
  });

  it('puts the browser client where the worker looks for it: dist/web beside dist/src', () => {
    const copies = find('COPY').filter((l) => l.startsWith('COPY --from=build '));
    expect(copies).toEqual(expect.arrayContaining(['COPY --from=build /app/dist/src dist/src', 'COPY --from=build /app/dist/web dist/web']));
    // src/web.ts: path.join(__dirname, '..', 'web') from dist/src/web.js.
    expect(read('src/web.ts')).toContain("path.join(__dirname, '..', 'web')");
  });

  it('runs node directly (exec form: SIGTERM reaches it) on package.json\'s main, as the chart does', () => {
    const cmd = JSON.parse(find('CMD')[0].slice(4));
    expect(cmd[0]).toBe('node');
    expect(cmd.at(-1)).toBe(pkg.main);
    expect(cmd).toContain(`--max-semi-space-size=${local.semiSpaceMb}`);
    expect(find('STOPSIGNAL')).toEqual(['STOPSIGNAL SIGTERM']);
  });

  it('as a numeric non-root user, the one the chart runs as', () => {
    const user = find('USER')[0].split(' ')[1];
    const [uid] = user.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    const deployment = read('helm/chatfabric/templates/deployment.yaml');
    expect(deployment).toContain(`runAsUser: ${uid}`);
  });

  it('exposes config.ts\'s port and checks /healthz, an endpoint src/server.ts serves', () => {
    expect(find('EXPOSE')).toEqual([`EXPOSE ${schema.port.default}`]);
    const check = find('HEALTHCHECK')[0];
    expect(check).toContain(`process.env.PORT || ${schema.port.default}`);
    expect(check).toContain('/healthz');
    expect(read('src/server.ts')).toContain("path === '/healthz'");
  });

  it('.dockerignore keeps local state and build output out of the context', () => {
    const ignored = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.run', '.tools', '.git']));
    // Nothing the build stage copies is ignored.
    const copied = stages[0].filter((l) => l.startsWith('COPY ')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copied.filter((c) => ignored.includes(c))).toEqual([]);
  });
});

describe('docker-compose.yml', () => {
  const compose = YAML.parse(read('docker-compose.yml'), { merge: true });
  const services: Record<string, any> = compose.services;
  const workers = Object.entries(services).filter(([, s]) => s.build === '.');
  const known = configEnvNames();

  it('parses into a 3-node NATS cluster, Redis, two workers and nginx', () => {
    expect(Object.keys(services).sort()).toEqual(['nats-1', 'nats-2', 'nats-3', 'nginx', 'redis', 'worker-1', 'worker-2']);
    expect(workers.map(([name]) => name)).toEqual(['worker-1', 'worker-2']);
  });

  it('names only the app\'s own image and official server images, pinned', () => {
    const images = Object.values(services).map((s) => s.image);
    const allowed = [`chatfabric:${pkg.version}`, /^nats:2\.\d+-alpine$/, /^redis:7-alpine$/, /^nginx:1\.\d+-alpine$/];
    for (const image of images) expect(allowed.some((a) => (typeof a === 'string' ? a === image : a.test(image))), image).toBe(true);
  });

  it('gives the workers only environment names src/config.ts reads, and those the ecosystem file gives', () => {
    process.env.CHATFABRIC_RUN_DIR = tmp;
    const ecosystem = require('../../ecosystem.config.js');
    delete process.env.CHATFABRIC_RUN_DIR;
    const pm2Env = Object.keys(ecosystem.apps.find((a: { name: string }) => a.name.endsWith('-worker')).env);
    for (const [name, worker] of workers) {
      const env = Object.keys(worker.environment);
      expect(env.filter((e) => !known.includes(e)), name).toEqual([]);
      // Not PM2's port scheme (one port per container instead) nor its Node mode, loopback or credentials it generates.
      const expected = pm2Env.filter((e) => !['NODE_ENV', 'WORKER_PORT_BASE', 'HOST', 'NATS_USER', 'NATS_PASSWORD'].includes(e));
      expect(env, name).toEqual(expect.arrayContaining([...expected, 'NATS_USER', 'NATS_PASSWORD', 'WORKER_ID']));
      expect(Number(worker.environment.DRAIN_TIMEOUT_MS)).toBe(local.drainMs);
      expect(Number.parseInt(worker.stop_grace_period, 10) * 1000).toBeGreaterThan(local.drainMs);
      expect(worker.read_only).toBe(true);
    }
  });

  it('every node routes to the two others and the workers know all three', () => {
    const nats = Object.keys(services).filter((n) => n.startsWith('nats-'));
    for (const name of nats) {
      const cmd: string[] = services[name].command;
      const routes = cmd[cmd.indexOf('--routes') + 1].split(',');
      expect(routes.sort()).toEqual(nats.filter((n) => n !== name).map((n) => `nats://${n}:6222`));
      expect(cmd[cmd.indexOf('--user') + 1]).toBe(workers[0][1].environment.NATS_USER);
    }
    expect(workers[0][1].environment.NATS_URL.split(',')).toEqual(nats.map((n) => `nats://${n}:4222`));
  });

  it('nginx: the local cluster\'s /ws location and sticky key, over the workers\' ports', () => {
    const conf = read('deploy/compose/nginx.conf');
    const generated: string = cluster.nginxConf({ ...local, runDir: path.join(tmp, 'run') }, [9001]);
    expect(location(conf, '= /ws')).toEqual(location(generated, '= /ws'));
    expect(conf).toContain(/hash \S+ consistent;/.exec(generated)![0]);
    const upstreams = [...conf.matchAll(/server (\S+):(\d+) /g)].map((m) => `${m[1]}:${m[2]}`);
    expect(upstreams).toEqual(workers.map(([name, w]) => `${name}:${w.environment.PORT}`));
    const mount = services.nginx.volumes[0].split(':')[0];
    expect(path.resolve(ROOT, mount)).toBe(path.join(ROOT, 'deploy', 'compose', 'nginx.conf'));
    expect(services.nginx.ports).toEqual([`127.0.0.1:${local.publicPort}:8080`]);
  });

  it('nginx: the browser client\'s paths go to the workers (they serve it), the rest is 404, GET and HEAD only', () => {
    const conf = read('deploy/compose/nginx.conf');
    const names = [...conf.matchAll(/^\s*location ([^{]+)\{/gm)].map((m) => m[1].trim());
    expect(names).toEqual(['/', '= /', '= /index.html', '/assets/', '= /client.json', '@chatfabric_limited', '= /ws']);
    for (const at of ['= /', '= /index.html', '/assets/', '= /client.json']) {
      expect(location(conf, at), at).toEqual(expect.arrayContaining(['proxy_pass http://chatfabric_workers;', 'proxy_set_header Host $http_host;']));
    }
    expect(location(conf, '/')).toContain('return 404 "not found\\n";');
    expect(conf).not.toContain('$host;');
    expect(conf).toMatch(/if \(\$request_method !~ \^\(GET\|HEAD\)\$\) \{\s*return 405;/);
  });
});
