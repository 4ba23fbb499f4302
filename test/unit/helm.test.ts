/**
 * The Helm chart, checked by the real helm (v4, unpacked from a dev dependency by
 * scripts/helm.js): lint, render with several value sets, every rendered document validated
 * against the Kubernetes schemas of the version the chart declares, bad values refused by
 * values.schema.json, and drift checks that read both the chart and the application.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { configDefault as defaultOf, configEnvNames } from '../support/config-env';

const { helmPath } = require('../../scripts/helm.js');
const cluster = require('../../scripts/cluster.js');

const ROOT = path.resolve(__dirname, '..', '..');
const CHART = path.join(ROOT, 'helm', 'chatfabric');
const HELM: string = helmPath();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-helm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Doc = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; [k: string]: any };
type Values = Record<string, unknown>;

// The models' validators, by apiVersion/kind: a kind the chart renders but nobody validates fails.
const MODELS: Record<string, { validate(doc: Doc): void }> = {};
function model(apiVersion: string, kind: string, Model: new (d: Doc) => { validate(): void }) {
  MODELS[`${apiVersion}/${kind}`] = { validate: (doc) => new Model(doc).validate() };
}
const core = require('kubernetes-models/v1');
for (const kind of ['ConfigMap', 'Secret', 'Service', 'ServiceAccount']) model('v1', kind, core[kind]);
model('apps/v1', 'Deployment', require('kubernetes-models/apps/v1').Deployment);
model('networking.k8s.io/v1', 'Ingress', require('kubernetes-models/networking.k8s.io/v1').Ingress);
model('autoscaling/v2', 'HorizontalPodAutoscaler', require('kubernetes-models/autoscaling/v2').HorizontalPodAutoscaler);
model('policy/v1', 'PodDisruptionBudget', require('kubernetes-models/policy/v1').PodDisruptionBudget);
model('monitoring.coreos.com/v1', 'ServiceMonitor', require('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1').ServiceMonitor);

// The models' TypeScript interfaces, by apiVersion/kind: the validators above accept unknown
// fields (their schemas allow additional properties), but TypeScript's excess-property check on
// an object literal refuses them, at every depth.
const TYPES: Record<string, [string, string]> = {
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/Secret', 'ISecret'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'v1/ServiceAccount': ['kubernetes-models/v1/ServiceAccount', 'IServiceAccount'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'networking.k8s.io/v1/Ingress': ['kubernetes-models/networking.k8s.io/v1/Ingress', 'IIngress'],
  'autoscaling/v2/HorizontalPodAutoscaler': ['kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', 'IHorizontalPodAutoscaler'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  'monitoring.coreos.com/v1/ServiceMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'IServiceMonitor'],
};

/** TypeScript's errors for these documents typed as their Kubernetes interfaces (none: every field is known). */
function unknownFields(docs: Doc[]): string[] {
  const ts = require('typescript') as typeof import('typescript');
  const file = path.join(ROOT, '.tools', 'rendered-manifests.ts');
  const lines = docs.map((doc, i) => {
    const [module, name] = TYPES[`${doc.apiVersion}/${doc.kind}`];
    return `import type { ${name} as T${i} } from ${JSON.stringify(module)};\nexport const doc${i}: T${i} = ${JSON.stringify(doc)};`;
  });
  const options = { strict: true, noEmit: true, skipLibCheck: true, moduleResolution: ts.ModuleResolutionKind.Node10, module: ts.ModuleKind.CommonJS, types: [] };
  const host = ts.createCompilerHost(options);
  // The file exists only in memory; everything it imports comes from node_modules.
  const source = ts.createSourceFile(file, lines.join('\n'), ts.ScriptTarget.ES2022);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, ...rest) => (name === file ? source : getSourceFile(name, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

/** The Kubernetes version whose OpenAPI schemas the installed kubernetes-models were built from. */
function modelsKubeVersion(): string {
  const readme = readFileSync(path.join(ROOT, 'node_modules', 'kubernetes-models', 'README.md'), 'utf8');
  const m = /kubernetes-(\d+\.\d+)\.\d+/.exec(readme);
  if (!m) throw new Error('kubernetes-models names no Kubernetes version in its README');
  return m[1];
}
const chartYaml = YAML.parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8'));
const declaredKube = /^>=\s*(\d+\.\d+)\.0(-0)?$/.exec(chartYaml.kubeVersion)?.[1];
// Render for the oldest version the chart claims, the one the validators describe.
const KUBE = `${declaredKube}.0`;

function valuesFile(values: Values): string {
  const file = path.join(tmp, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

/** Runs helm on the chart; status, and stdout and stderr together. */
function helm(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(HELM, args, { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: path.join(tmp, 'cache'), HELM_CONFIG_HOME: path.join(tmp, 'config') } });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The documents `helm template` renders for these values (it throws on failure). */
function render(values: Values = {}, extra: string[] = []): Doc[] {
  const r = helm(['template', 'cf', CHART, '--kube-version', KUBE, '-f', valuesFile(values), ...extra]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.output}`);
  return YAML.parseAllDocuments(r.output).map((d) => d.toJS()).filter(Boolean);
}

function only(docs: Doc[], kind: string): Doc {
  const found = docs.filter((d) => d.kind === kind);
  expect(found.map((d) => d.kind)).toEqual([kind]);
  return found[0];
}

const secrets = { nats: { user: 'chatfabric', password: 'n'.repeat(40) }, redis: { url: 'rediss://:secret@redis-master.data:6380' } };
const VALUE_SETS: Record<string, Values> = {
  defaults: {},
  ha: { autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 20 }, podDisruptionBudget: { enabled: true, maxUnavailable: 1 } },
  external: { nats: { url: 'nats://nats-0.nats:4222,nats://nats-1.nats:4222,nats://nats-2.nats:4222', ...secrets.nats }, redis: secrets.redis },
  existingSecret: { existingSecret: 'chat-credentials' },
  ingressTls: { ingress: { enabled: true, host: 'chat.example.org', tlsSecretName: 'chat-tls' } },
  everything: {
    ...{ nats: { url: 'nats://nats:4222', ...secrets.nats }, redis: secrets.redis },
    auth: { mode: 'jwt', secret: 's'.repeat(32), issuer: 'https://id.example.org' },
    ingress: { enabled: true, tlsSecretName: 'chat-tls' },
    autoscaling: { enabled: true },
    serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
    config: { extraEnv: { HISTORY_SIZE: 200 } },
  },
};

describe('the helm binary (scripts/helm.js)', () => {
  it('is the real helm 4, unpacked once: a second call reuses it', () => {
    expect(execFileSync(HELM, ['version', '--short'], { encoding: 'utf8' })).toMatch(/^v4\./);
    expect(helmPath()).toBe(HELM);
  });
});

describe('helm lint --strict', () => {
  it.each([
    ['the default values', {}],
    ['every optional feature on', VALUE_SETS.everything],
  ])('passes with %s', (_name, values) => {
    const r = helm(['lint', '--strict', CHART, '--kube-version', KUBE, '-f', valuesFile(values)]);
    expect(r.output).toContain('0 chart(s) failed');
    expect(r.status).toBe(0);
  });
});

describe('helm template', () => {
  it('renders for the Kubernetes version the validators describe, and refuses an older one', () => {
    expect(declaredKube).toBe(modelsKubeVersion());
    const [major, minor] = declaredKube!.split('.').map(Number);
    expect(() => render({}, ['--kube-version', `${major}.${minor - 1}.0`])).toThrow(/kubeVersion/);
  });

  it.each(Object.entries(VALUE_SETS))('renders %s into documents valid for their Kubernetes schema', (_name, values) => {
    const docs = render(values);
    expect(docs.length).toBeGreaterThan(3);
    for (const doc of docs) {
      const validator = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(validator, `${doc.apiVersion} ${doc.kind} has a validator`).toBeDefined();
      validator.validate(doc);
      expect(doc.metadata.labels['app.kubernetes.io/managed-by'], `${doc.kind} carries the standard labels`).toBe('Helm');
    }
    expect(unknownFields(docs)).toEqual([]);
  });

  it('the validators do catch a bad document (so a pass above means something)', () => {
    const deployment = only(render(), 'Deployment');
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => MODELS['apps/v1/Deployment'].validate(deployment)).toThrow(/containerPort/);
    const misspelt = only(render(), 'Deployment');
    misspelt.spec.template.spec.containers[0].readinesProbe = misspelt.spec.template.spec.containers[0].readinessProbe;
    expect(unknownFields([misspelt]).join('\n')).toMatch(/readinesProbe/);
  });

  it('defaults: fixed replicas, a PDB, no HPA, no Ingress, no ServiceMonitor', () => {
    const docs = render();
    expect(only(docs, 'Deployment').spec.replicas).toBe(2);
    only(docs, 'PodDisruptionBudget');
    expect(docs.map((d) => d.kind)).not.toEqual(expect.arrayContaining(['HorizontalPodAutoscaler']));
    expect(docs.map((d) => d.kind).filter((k) => ['Ingress', 'ServiceMonitor'].includes(k))).toEqual([]);
  });

  it('HA: the HPA owns the replica count and scales down one pod at a time', () => {
    const docs = render(VALUE_SETS.ha);
    expect(only(docs, 'Deployment').spec.replicas).toBeUndefined();
    const hpa = only(docs, 'HorizontalPodAutoscaler');
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 20, scaleTargetRef: { kind: 'Deployment', name: only(docs, 'Deployment').metadata.name } });
    expect(hpa.spec.behavior.scaleDown.policies).toEqual([{ type: 'Pods', value: 1, periodSeconds: 60 }]);
    expect(only(docs, 'PodDisruptionBudget').spec.selector.matchLabels).toEqual(only(docs, 'Deployment').spec.selector.matchLabels);
  });

  it('external NATS and Redis: URLs in the ConfigMap, credentials only in the Secret', () => {
    const docs = render(VALUE_SETS.external);
    const config = only(docs, 'ConfigMap').data;
    expect(config.NATS_URL).toBe((VALUE_SETS.external.nats as { url: string }).url);
    expect(config.NATS_USER).toBe('chatfabric');
    expect(JSON.stringify(config)).not.toContain(secrets.nats.password);
    expect(JSON.stringify(config)).not.toContain(secrets.redis.url);
    expect(only(docs, 'Secret').stringData).toEqual({ REDIS_URL: secrets.redis.url, NATS_PASSWORD: secrets.nats.password });
  });

  it('an existing Secret replaces the chart\'s own', () => {
    const docs = render(VALUE_SETS.existingSecret);
    expect(docs.filter((d) => d.kind === 'Secret')).toEqual([]);
    const container = only(docs, 'Deployment').spec.template.spec.containers[0];
    expect(container.envFrom).toContainEqual({ secretRef: { name: 'chat-credentials' } });
  });

  /** The chart's two Ingresses: /ws (sticky, limited) and the browser client's paths. */
  function ingresses(docs: Doc[]): { ws: Doc; web: Doc } {
    const found = docs.filter((d) => d.kind === 'Ingress');
    expect(found.map((d) => d.metadata.name)).toEqual(['cf-chatfabric', 'cf-chatfabric-web']);
    return { ws: found[0], web: found[1] };
  }
  const routes = (ingress: Doc) => ingress.spec.rules[0].http.paths.map((p: { path: string; pathType: string }) => `${p.pathType} ${p.path}`);

  it('ingress with TLS: /ws and the browser client, on the host, with its certificate; never a Prefix /', () => {
    const { ws, web } = ingresses(render(VALUE_SETS.ingressTls));
    for (const ingress of [ws, web]) {
      expect(ingress.spec.tls).toEqual([{ hosts: ['chat.example.org'], secretName: 'chat-tls' }]);
      expect(ingress.spec.rules).toHaveLength(1);
      expect(ingress.spec.rules[0].host).toBe('chat.example.org');
      expect(ingress.spec.rules[0].http.paths.every((p: { backend: { service: { name: string } } }) => p.backend.service.name === 'cf-chatfabric')).toBe(true);
    }
    expect(routes(ws)).toEqual(['Exact /ws']);
    expect(routes(web)).toEqual(['Exact /', 'Exact /index.html', 'Exact /client.json', 'Prefix /assets/']);
    // A Prefix / (or any prefix the operational endpoints fall under) would make them public.
    for (const route of [...routes(ws), ...routes(web)]) {
      const [type, at] = route.split(' ');
      for (const ops of ['/healthz', '/readyz', '/metrics']) expect(type === 'Exact' ? at === ops : ops.startsWith(at), `${route} ${ops}`).toBe(false);
    }
  });

  it('the browser client\'s Ingress has none of /ws\'s limits or sticky hash: a page load fetches a dozen modules', () => {
    const { ws, web } = ingresses(render({ ingress: { enabled: true, annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' } } }));
    expect(Object.keys(ws.metadata.annotations!)).toEqual(expect.arrayContaining(['nginx.ingress.kubernetes.io/limit-rps', 'nginx.ingress.kubernetes.io/upstream-hash-by', 'cert-manager.io/cluster-issuer']));
    // The extra annotations too stay on one Ingress, so that one owns the certificate.
    expect(web.metadata.annotations).toBeUndefined();
  });

  it('config.webClient false: the pods serve no page (WEB_CLIENT), the Ingress routes only /ws and /client.json', () => {
    const docs = render({ ingress: { enabled: true }, config: { webClient: false } });
    expect(only(docs, 'ConfigMap').data.WEB_CLIENT).toBe('false');
    const { ws, web } = ingresses(docs);
    expect([...routes(ws), ...routes(web)]).toEqual(['Exact /ws', 'Exact /client.json']);
    expect(only(render(), 'ConfigMap').data.WEB_CLIENT).toBe('true');
  });

  it('NOTES.txt tells how to connect the terminal client and where the browser client is, with wss and https behind TLS', () => {
    const notes = (values: Values) => helm(['install', 'cf', CHART, '--dry-run=client', '-f', valuesFile(values)]).output;
    expect(notes({})).toContain('npm run tui -- --url ws://127.0.0.1:8080/ws');
    expect(notes({})).toContain('http://127.0.0.1:8080/ (through the port-forward above)');
    const tls = notes(VALUE_SETS.ingressTls);
    expect(tls).toContain('npm run tui -- --url wss://chat.example.org/ws');
    expect(tls).toContain('https://chat.example.org/');
    expect(notes({ config: { webClient: false } })).not.toContain('browser client');
  });
});

describe('values.schema.json refuses bad values', () => {
  it.each([
    ['a wrong type', ['--set-string', 'replicaCount=two'], /replicaCount.*want integer/],
    ['a negative replica count', ['--set', 'replicaCount=-1'], /replicaCount.*minimum/],
    ['an unknown top-level key', ['--set', 'replicas=3'], /additional properties 'replicas' not allowed/],
    ['an unknown nested key (a typo)', ['--set', 'ingress.enable=true'], /additional properties 'enable' not allowed/],
    ['an HMAC secret shorter than the worker accepts', ['--set', 'auth.secret=short'], /auth\/secret/],
    ['credentials inside the NATS URL', ['--set', 'nats.url=nats://u:p@nats:4222'], /nats\/url/],
    ['JWT authentication without a key (the worker would exit at start)', ['--set', 'auth.mode=jwt'], /auth.mode jwt needs a key/],
    ['a NATS password without a user', ['--set', 'nats.password=secret'], /nats.password is set but nats.user is empty/],
    ['an environment name that is not one', ['--set', 'config.extraEnv.history-size=1'], /'history-size' does not match/],
  ])('%s', (_name, args, message) => {
    const r = helm(['template', 'cf', CHART, '--kube-version', KUBE, ...args]);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(message);
  });
});

describe('drift between the chart and the application', () => {
  const docs = render(VALUE_SETS.everything);
  const deployment = only(docs, 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const config = only(docs, 'ConfigMap').data as Record<string, string>;
  const values = YAML.parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
  const local = cluster.settings({});
  const nginx: string = cluster.nginxConf({ ...local, runDir: path.join(tmp, 'run') }, [9001]);
  const server = readFileSync(path.join(ROOT, 'src', 'server.ts'), 'utf8');

  it('appVersion is package.json\'s version', () => {
    expect(chartYaml.appVersion).toBe(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('every environment name the pod gets is one src/config.ts reads', () => {
    const known = configEnvNames();
    expect(known).toContain('NATS_URL');
    const given = [...Object.keys(config), ...Object.keys(only(docs, 'Secret').stringData), ...container.env.map((e: { name: string }) => e.name)];
    expect(given.filter((name) => !known.includes(name))).toEqual([]);
    // The same names the local cluster's ecosystem file gives its workers, where both apply.
    for (const name of ['NATS_URL', 'NATS_USER', 'REDIS_URL', 'DRAIN_TIMEOUT_MS', 'ALLOWED_ORIGINS', 'HOST']) expect(given).toContain(name);
  });

  it('the port: config.ts\'s default, the container port, the Service\'s target', () => {
    expect(Number(config.PORT)).toBe(defaultOf('PORT'));
    expect(container.ports).toEqual([{ name: 'http', containerPort: defaultOf('PORT'), protocol: 'TCP' }]);
    expect(only(docs, 'Service').spec.ports[0].targetPort).toBe('http');
  });

  it('the probes and the public path are endpoints src/server.ts serves', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    const paths = [container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path, only(docs, 'ServiceMonitor').spec.endpoints[0].path];
    for (const p of paths) expect(server).toContain(`path === '${p}'`);
    const [ws, web] = docs.filter((d) => d.kind === 'Ingress');
    const publicPath = ws.spec.rules[0].http.paths[0].path;
    expect(server).toContain(`url.pathname !== '${publicPath}'`);
    expect(nginx).toContain(`location = ${publicPath} {`);
    // The browser client's paths: the worker serves them (src/web.ts), and so does the local nginx.
    const webSource = readFileSync(path.join(ROOT, 'src', 'web.ts'), 'utf8');
    expect(server).toContain("path === '/client.json'");
    expect(webSource).toContain("pathname !== '/' && pathname !== '/index.html' && !pathname.startsWith('/assets/')");
    for (const p of web.spec.rules[0].http.paths as { path: string; pathType: string }[]) {
      expect(nginx, p.path).toContain(p.pathType === 'Exact' ? `location = ${p.path} {` : `location ${p.path} {`);
    }
  });

  it('the ingress is sticky on the local nginx\'s key, with its timeouts and per-address limits', () => {
    const a = docs.find((d) => d.kind === 'Ingress')!.metadata.annotations!;
    const key = /hash (\S+) consistent;/.exec(nginx)?.[1];
    expect(a['nginx.ingress.kubernetes.io/upstream-hash-by']).toBe(key);
    const timeout = /proxy_read_timeout (\d+)s;/.exec(nginx)?.[1];
    expect(a['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe(timeout);
    expect(Number(timeout) * 1000).toBeGreaterThan(defaultOf('PING_INTERVAL_MS') as number);
    expect(a['nginx.ingress.kubernetes.io/proxy-next-upstream']).toBe(/proxy_next_upstream ([^;]+);/.exec(nginx)?.[1]);
    expect(Number(a['nginx.ingress.kubernetes.io/limit-connections'])).toBe(local.connPerAddress);
    expect(Number(a['nginx.ingress.kubernetes.io/limit-rps'])).toBe(local.handshakesPerSec);
    expect(Number(a['nginx.ingress.kubernetes.io/limit-burst-multiplier'])).toBe(local.handshakeBurst / local.handshakesPerSec);
  });

  it('draining: the grace period covers the preStop pause and the drain budget, as PM2\'s kill_timeout does', () => {
    expect(Number(config.DRAIN_TIMEOUT_MS)).toBe(defaultOf('DRAIN_TIMEOUT_MS'));
    expect(Number(config.DRAIN_TIMEOUT_MS)).toBe(local.drainMs);
    const pause = Number(container.lifecycle.preStop.exec.command[1]);
    expect(container.lifecycle.preStop.exec.command[0]).toBe('sleep');
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(pause * 1000 + local.drainMs);
    // Raising the drain budget raises the grace period with it.
    const longer = only(render({ config: { drainTimeoutMs: 60_000 } }), 'Deployment').spec.template.spec;
    expect(longer.terminationGracePeriodSeconds * 1000).toBeGreaterThan(pause * 1000 + 60_000);
  });

  it('the rollout adds one pod before removing one, so clients move a pod\'s share at a time', () => {
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
  });

  it('the worker runs as the local cluster runs it: one node process, its heap flags and memory bound', () => {
    expect(container.command).toEqual(['node', `--max-semi-space-size=${local.semiSpaceMb}`, 'dist/src/main.js']);
    expect(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).main).toBe(container.command.at(-1));
    expect(container.resources.limits.memory).toBe(local.maxMemory.replace(/G$/, 'Gi'));
  });

  it('the pod is locked down: non-root, read-only root, no privilege escalation, no API token', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
  });

  it('every value in values.yaml is commented, and the schema knows every one', () => {
    const doc = YAML.parseDocument(readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
    const uncommented: string[] = [];
    const walk = (map: any, at: string) => {
      map.items.forEach((pair: any, i: number) => {
        const name = `${at}${pair.key.value}`;
        const comment = pair.key.commentBefore ?? (i === 0 ? map.commentBefore : undefined);
        // Kubernetes' own resource objects are documented by Kubernetes.
        if (YAML.isMap(pair.value) && pair.value.items.length > 0 && pair.key.value !== 'resources') walk(pair.value, `${name}.`);
        else if (!comment) uncommented.push(name);
      });
    };
    walk(doc.contents, '');
    expect(uncommented).toEqual([]);
    const valuesSchema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8'));
    expect(Object.keys(valuesSchema.properties).sort()).toEqual(Object.keys(values).sort());
  });
});

describe('helm/chatfabric/README.md', () => {
  it('has a row for every value, with its default', () => {
    const readme = readFileSync(path.join(CHART, 'README.md'), 'utf8');
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, at: string) => {
      for (const [key, value] of Object.entries(node)) {
        const name = `${at}${key}`;
        if (value && typeof value === 'object' && !Array.isArray(value) && key !== 'resources' && Object.keys(value).length > 0) walk(value as Record<string, unknown>, `${name}.`);
        else if (!readme.includes(`| \`${name}\` | \`${JSON.stringify(value)}\` |`)) missing.push(name);
      }
    };
    walk(YAML.parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')), '');
    expect(missing).toEqual([]);
  });
});
