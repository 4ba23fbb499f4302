/**
 * Turns a benchmark run into the side-by-side Markdown tables (medians over repetitions, ratios
 * of chatfabric to its peers, the noise each step saw) and an SVG chart of the fan-out ladder.
 */
import type { Window } from './measure';

type SystemName = string;

interface Step {
  system: SystemName;
  rep: number;
  rate: number;
  saturated: boolean;
  saturation: string;
  sent: number;
  expected: number;
  received: number;
  lost: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  usPerDelivery: number;
  passed: boolean;
  reason: string;
  window: Window;
}

export interface Results {
  meta: {
    date: string;
    quick: boolean;
    machine: { cpus: number; model: string; memGiB: number; node: string; kernel: string; loadavg: number[] };
    plan: Record<string, unknown>;
    labels: Record<string, string>;
    durationS: number;
  };
  A: Step[];
  B: Step[];
  C: { system: SystemName; rep: number; n: number; ready: number; failed?: Record<string, number>; rssTotal: number; rssBaseline: number; perConnBytes: number; byRole: Record<string, number> }[];
  D: { system: SystemName; rep: number; n: number; ready: number; failed?: Record<string, number>; seconds: number; serverCpuMsPerConn: number; connectP50Ms: number; connectP99Ms: number; window: Window }[];
  E: { system: SystemName; rep?: number; n: number; ready: number; failed: Record<string, number>; allInS: number; quietS: number; finished: boolean; frames: number; framesPerJoin: number; serverCpuMsPerJoin: number; window: Window }[];
  F: { system: SystemName; rep: number; members: number; resumed: number; ready: number; allBackS: number; pm2ReloadS: number; p50Ms: number; p99Ms: number; window: Window }[];
  G: {
    system: SystemName;
    workers: number;
    n: number;
    ready: number;
    failed: Record<string, number>;
    connectS: number;
    serverCpuMsPerConn: number;
    settled: boolean;
    online: number;
    redisWorstMs: number;
    redisProbes: number;
    redisSlowestMs: number;
    redisSlowestCommand: string;
    redisSlowCount: number;
    rssTotal: number;
    perConnBytes: number;
    messages: number;
    expected: number;
    received: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    usPerDelivery: number;
    window: Window;
  }[];
}

const ORDER = ['chatfabric', 'chatfabric-nginx', 'socketio', 'ws-nats', 'ws'];
const NAMES: Record<string, string> = {
  chatfabric: 'chatfabric (direct)',
  'chatfabric-nginx': 'chatfabric via nginx',
  socketio: 'Socket.IO + Redis adapter',
  'ws-nats': 'raw ws + NATS',
  ws: 'raw ws (1 process)',
};
const COLORS: Record<string, string> = { chatfabric: '#d62728', 'chatfabric-nginx': '#ff7f0e', socketio: '#1f77b4', 'ws-nats': '#2ca02c', ws: '#7f7f7f' };

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function systemsOf(r: Results): string[] {
  const seen = new Set<string>([...r.A, ...r.B, ...r.C, ...r.D, ...r.E, ...r.F].map((x) => x.system));
  return ORDER.filter((s) => seen.has(s));
}

const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Per system: the headline figures every section and the ratio table use. */
function headlines(r: Results) {
  const out = new Map<string, Record<string, number>>();
  const sys = systemsOf(r);
  // A: the per-delivery cost is compared at one load every system carried without saturating:
  // the highest rate at which none of them was saturated in most repetitions.
  const rates = [...new Set(r.A.map((s) => s.rate))].sort((a, b) => a - b);
  const majority = (system: string, rate: number, ok: (s: Step) => boolean) => {
    const xs = r.A.filter((s) => s.system === system && s.rate === rate);
    return xs.length > 0 && xs.filter(ok).length * 2 > xs.length;
  };
  const passedAt = (system: string, rate: number) => majority(system, rate, (s) => s.passed);
  const carriedAt = (system: string, rate: number) => majority(system, rate, (s) => !s.saturated);
  const common = [...rates].reverse().find((rate) => sys.filter((s) => r.A.some((x) => x.system === s)).every((s) => carriedAt(s, rate)));
  for (const s of sys) {
    const h: Record<string, number> = {};
    const a = r.A.filter((x) => x.system === s);
    const best = rates.filter((rate) => passedAt(s, rate)).map((rate) => median(a.filter((x) => x.rate === rate).map((x) => x.deliveriesPerSec)));
    h.aBest = best.length ? Math.max(...best) : NaN;
    h.aUsCommon = common === undefined ? NaN : median(a.filter((x) => x.rate === common).map((x) => x.usPerDelivery));
    h.aP99Common = common === undefined ? NaN : median(a.filter((x) => x.rate === common).map((x) => x.p99Ms));
    const b = r.B.filter((x) => x.system === s);
    h.bP50 = median(b.map((x) => x.p50Ms));
    h.bP99 = median(b.map((x) => x.p99Ms));
    h.bP999 = median(b.map((x) => x.p999Ms));
    h.bUs = median(b.map((x) => x.usPerDelivery));
    h.bLost = median(b.map((x) => x.lost));
    for (const n of [...new Set(r.C.map((x) => x.n))]) h[`c${n}`] = median(r.C.filter((x) => x.system === s && x.n === n && x.ready >= n * 0.99).map((x) => x.perConnBytes / 1024));
    const d = r.D.filter((x) => x.system === s);
    h.dSeconds = median(d.map((x) => x.seconds));
    h.dCpuMs = median(d.map((x) => x.serverCpuMsPerConn));
    for (const n of [...new Set(r.E.map((x) => x.n))]) {
      const e = r.E.filter((x) => x.system === s && x.n === n);
      h[`e${n}`] = e.length && e.every((x) => x.finished) ? median(e.map((x) => x.quietS)) : NaN;
    }
    const fr = r.F.filter((x) => x.system === s);
    h.fAllBack = median(fr.map((x) => x.allBackS));
    out.set(s, h);
  }
  return { out, common };
}

/** The whole report in Markdown. */
export function renderMarkdown(r: Results): string {
  const sys = systemsOf(r);
  const { out: h, common } = headlines(r);
  const m = r.meta.machine;
  const reps = Number(r.meta.plan.repeat ?? 1);
  const lines: string[] = [];
  lines.push(`## Benchmark run ${r.meta.date}${r.meta.quick ? ' (quick)' : ''}`);
  lines.push('');
  lines.push(`${m.cpus} × ${m.model}, ${m.memGiB} GiB, Node ${m.node}, Linux ${m.kernel}; load average at start ${m.loadavg.map((x) => x.toFixed(2)).join(' ')}. ` +
    `${reps} repetition(s), medians shown; systems interleaved step by step. The run took ${f(r.meta.durationS / 60)} min.`);
  lines.push('');
  for (const s of sys) if (r.meta.labels[s]) lines.push(`- **${NAMES[s] ?? s}**: ${r.meta.labels[s]}`);

  if (r.A.length) {
    const members = Number(r.meta.plan.fanoutClients ?? 1000);
    lines.push('', `### A. Fan-out ladder: ${int(members)} clients in one room, rising send rate`, '');
    lines.push(`Cells: server CPU µs per delivery · p50 / p99 ms, medians. ✗ k/n: the step missed the bar (p99 < ${r.meta.plan.p99LimitMs ?? 50} ms and nothing lost) in k of n repetitions; saturated k/n: the system could not keep up at all (a loss, p99 above 1 s, or the send rate not reached), which ends its ladder in that repetition.`, '');
    const rates = [...new Set(r.A.map((s) => s.rate))].sort((a, b) => a - b);
    lines.push(
      table(
        ['msg/s (deliveries/s offered)', ...sys.filter((s) => r.A.some((x) => x.system === s)).map((s) => NAMES[s] ?? s)],
        rates.map((rate) => [
          `${rate} (${int(rate * (members - 1))})`,
          ...sys.filter((s) => r.A.some((x) => x.system === s)).map((s) => {
            const xs = r.A.filter((x) => x.system === s && x.rate === rate);
            if (!xs.length) return '—';
            const missed = xs.filter((x) => !x.passed).length;
            const saturated = xs.filter((x) => x.saturated).length;
            const cell = `${f(median(xs.map((x) => x.usPerDelivery)))} µs · ${f(median(xs.map((x) => x.p50Ms)), 2)} / ${f(median(xs.map((x) => x.p99Ms)), 1)}`;
            const marks = [missed ? `✗ ${missed}/${xs.length}` : '', saturated ? `saturated ${saturated}/${xs.length}` : ''].filter(Boolean).join(', ');
            return marks ? `${cell} (${marks})` : cell;
          }),
        ]),
      ),
    );
    lines.push('', table(
      ['system', `best deliveries/s with p99 < ${r.meta.plan.p99LimitMs ?? 50} ms, nothing lost`, `server µs/delivery at ${common ?? '?'} msg/s (the highest rate all carried)`, `p99 at ${common ?? '?'} msg/s`],
      sys.filter((s) => r.A.some((x) => x.system === s)).map((s) => [NAMES[s] ?? s, int(h.get(s)!.aBest), f(h.get(s)!.aUsCommon), `${f(h.get(s)!.aP99Common, 1)} ms`]),
    ));
  }
  if (r.B.length) {
    lines.push('', `### B. ${r.meta.plan.rooms ?? 100} rooms of ${r.meta.plan.roomSize ?? 10}, ${int(Number(r.meta.plan.roomsRate ?? 1000))} msg/s`, '');
    lines.push(table(
      ['system', 'p50', 'p99', 'p99.9', 'lost', 'server µs/delivery'],
      sys.filter((s) => r.B.some((x) => x.system === s)).map((s) => {
        const x = h.get(s)!;
        return [NAMES[s] ?? s, `${f(x.bP50, 2)} ms`, `${f(x.bP99, 2)} ms`, `${f(x.bP999, 2)} ms`, int(x.bLost), f(x.bUs)];
      }),
    ));
  }
  if (r.C.length) {
    const ns = [...new Set(r.C.map((x) => x.n))].sort((a, b) => a - b);
    lines.push('', '### C. Idle memory: server RSS per connection (all server processes, growth over the fresh system)', '');
    lines.push(table(
      ['system', ...ns.map((n) => `${int(n)} connections`), 'largest count: RSS growth by process'],
      sys.filter((s) => r.C.some((x) => x.system === s)).map((s) => {
        const cells = ns.map((n) => {
          const xs = r.C.filter((x) => x.system === s && x.n === n);
          if (!xs.length) return 'not reached';
          const full = xs.filter((x) => x.ready >= n * 0.99);
          if (!full.length) return `only ${int(median(xs.map((x) => x.ready)))} connected (${Object.keys(xs[0].failed ?? {}).join(', ') || 'refused'})`;
          return `${f(median(full.map((x) => x.perConnBytes / 1024)))} KB`;
        });
        const last = r.C.filter((x) => x.system === s).sort((a, b) => b.n - a.n || a.rep - b.rep)[0];
        const roles = Object.entries(last.byRole).filter(([, b]) => Math.abs(b) > 2 ** 20).map(([role, b]) => `${role} ${f(b / 2 ** 20, 0)} MiB`).join(', ');
        return [NAMES[s] ?? s, ...cells, roles];
      }),
    ));
  }
  if (r.D.length) {
    const n = r.D[0].n;
    lines.push('', `### D. Connect rate: ${int(n)} connections, 200 at a time (rooms of 10)`, '');
    lines.push(table(
      ['system', 'connected', 'seconds', 'server CPU per connection', 'connect p50 / p99'],
      sys.filter((s) => r.D.some((x) => x.system === s)).map((s) => {
        const xs = r.D.filter((x) => x.system === s);
        return [NAMES[s] ?? s, `${int(median(xs.map((x) => x.ready)))}/${int(n)}`, f(median(xs.map((x) => x.seconds)), 2), `${f(median(xs.map((x) => x.serverCpuMsPerConn)), 2)} ms`, `${f(median(xs.map((x) => x.connectP50Ms)))} / ${f(median(xs.map((x) => x.connectP99Ms)))} ms`];
      }),
    ));
  }
  if (r.E.length) {
    const ns = [...new Set(r.E.map((x) => x.n))].sort((a, b) => a - b);
    lines.push('', '### E. Join storm: N clients join one room (200 at a time) until all are in and nothing arrives for 1 s', '');
    lines.push('Cells: seconds until quiet · frames received per join · server CPU per join.', '');
    lines.push(table(
      ['system', ...ns.map((n) => `N = ${int(n)}`)],
      sys.filter((s) => r.E.some((x) => x.system === s)).map((s) => [
        NAMES[s] ?? s,
        ...ns.map((n) => {
          const xs = r.E.filter((x) => x.system === s && x.n === n);
          if (!xs.length) return 'not run (gave up at a smaller N)';
          if (!xs.every((x) => x.finished)) return `did not finish: ${int(median(xs.map((x) => x.ready)))} in after ${f(median(xs.map((x) => x.quietS)))} s`;
          return `${f(median(xs.map((x) => x.quietS)), 2)} s · ${int(median(xs.map((x) => x.framesPerJoin)))} · ${f(median(xs.map((x) => x.serverCpuMsPerJoin)), 2)} ms`;
        }),
      ]),
    ));
  }
  if (r.F.length) {
    lines.push('', '### F. Reconnect storm: `pm2 reload` with the fan-out room full (chatfabric only; the peers have no rolling reload)', '');
    lines.push(table(
      ['system', 'members', 'resumed', 'all back after', 'pm2 reload took', 'drop → back p50 / p99'],
      sys.filter((s) => r.F.some((x) => x.system === s)).map((s) => {
        const xs = r.F.filter((x) => x.system === s);
        return [NAMES[s] ?? s, int(xs[0].members), int(median(xs.map((x) => x.resumed))), `${f(median(xs.map((x) => x.allBackS)), 2)} s`, `${f(median(xs.map((x) => x.pm2ReloadS)), 2)} s`, `${int(median(xs.map((x) => x.p50Ms)))} / ${int(median(xs.map((x) => x.p99Ms)))} ms`];
      }),
    ));
  }

  if (r.G?.length) {
    lines.push('', '### G. One machine: everyone in `global`', '');
    lines.push(table(
      ['workers', 'connected', 'connect time', 'server CPU per connection', 'online after a TTL of heartbeats', 'longest Redis command (SLOWLOG)', 'longest probe wait', 'server RSS', 'per connection', 'message to global', 'delivery p50 / p99 / max'],
      r.G.map((g) => [
        String(g.workers),
        `${int(g.ready)}/${int(g.n)}`,
        `${f(g.connectS)} s`,
        `${f(g.serverCpuMsPerConn, 2)} ms`,
        int(g.online),
        `${f(g.redisSlowestMs, 1)} ms (${g.redisSlowestCommand}; ${g.redisSlowCount} over 1 ms)`,
        `${f(g.redisWorstMs, 1)} ms (${int(g.redisProbes)} probes)`,
        `${f(g.rssTotal / 2 ** 30, 2)} GiB`,
        `${f(g.perConnBytes / 1024)} KB`,
        `${int(g.received)}/${int(g.expected)} deliveries of ${g.messages} messages`,
        `${int(g.p50Ms)} / ${int(g.p99Ms)} / ${int(g.maxMs)} ms`,
      ]),
    ));
  }

  // Ratios: chatfabric's figure over the peer's (below 1 is better for every row but "best deliveries/s").
  const peers = ['socketio', 'ws-nats'].filter((p) => h.has(p));
  const ours = ['chatfabric', 'chatfabric-nginx'].filter((p) => h.has(p));
  if (peers.length && ours.length) {
    const rows: [string, string][] = [
      ['A best deliveries/s passing (higher is better)', 'aBest'],
      [`A server µs/delivery at ${common ?? '?'} msg/s`, 'aUsCommon'],
      ['B p50', 'bP50'],
      ['B p99', 'bP99'],
      ['B server µs/delivery', 'bUs'],
      ...[...new Set(r.C.map((x) => x.n))].sort((a, b) => a - b).map((n) => [`C KB per idle connection at ${int(n)}`, `c${n}`] as [string, string]),
      ['D server CPU per connection', 'dCpuMs'],
      ['D seconds', 'dSeconds'],
      ...[...new Set(r.E.map((x) => x.n))].sort((a, b) => a - b).map((n) => [`E seconds to fill a room of ${int(n)}`, `e${n}`] as [string, string]),
    ];
    lines.push('', '### Ratios (chatfabric ÷ peer; n/a where either side did not finish or was not run)', '');
    const cols = ours.flatMap((o) => peers.map((p) => [o, p] as const));
    lines.push(table(
      ['figure', ...cols.map(([o, p]) => `${NAMES[o]} ÷ ${NAMES[p]}`)],
      rows.map(([label, key]) => [label, ...cols.map(([o, p]) => ratio(h.get(o)![key], h.get(p)![key]))]),
    ));
  }

  const windows = [...r.A, ...r.B].map((x) => x.window).concat(r.D.map((x) => x.window));
  if (windows.length) {
    const other = windows.map((w) => w.otherCpuS / w.wallS);
    const gen = windows.map((w) => w.genCpuS / w.wallS);
    const server = windows.map((w) => w.serverCpuS / w.wallS);
    lines.push('', '### Noise and the load generator', '');
    lines.push(`Over the ${windows.length} measured steps of A, B and D: the servers used a median ${f(median(server), 2)} cores (max ${f(Math.max(...server), 2)}), ` +
      `the load generators ${f(median(gen), 2)} cores (max ${f(Math.max(...gen), 2)}), other work on the machine ${f(median(other), 2)} cores (max ${f(Math.max(...other), 2)}) of ${m.cpus}. ` +
      'Server CPU per unit of work is the figure to compare across runs; latency and seconds move with the noise.');
  }
  return lines.join('\n');
}

/** Two panels over the fan-out ladder: server CPU per delivery, and p99 latency, against deliveries/s. */
export function renderSvg(r: Results): string {
  const W = 960;
  const H = 380;
  const panel = (x0: number, title: string, value: (s: Step) => number, yLabel: string, logY: boolean, mark?: number) => {
    const pw = 400;
    const ph = 260;
    const top = 60;
    const series = systemsOf(r)
      .map((sys) => {
        const rates = [...new Set(r.A.filter((s) => s.system === sys).map((s) => s.rate))].sort((a, b) => a - b);
        return {
          sys,
          points: rates.map((rate) => {
            const xs = r.A.filter((s) => s.system === sys && s.rate === rate);
            return { x: median(xs.map((s) => s.deliveriesPerSec)), y: median(xs.map(value)), ok: xs.filter((s) => s.passed).length * 2 > xs.length };
          }).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.y > 0),
        };
      })
      .filter((s) => s.points.length);
    const all = series.flatMap((s) => s.points);
    const xMax = Math.max(1, ...all.map((p) => p.x)) * 1.05;
    const yVals = all.map((p) => p.y);
    const yMin = logY ? Math.max(0.01, Math.min(...yVals) / 1.5) : 0;
    const yMax = Math.max(1, ...yVals) * (logY ? 1.5 : 1.1);
    const sx = (x: number) => x0 + 60 + (x / xMax) * pw;
    const sy = (y: number) => (logY ? top + ph - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph : top + ph - (y / yMax) * ph);
    const out: string[] = [];
    out.push(`<text x="${x0 + 60 + pw / 2}" y="${top - 25}" text-anchor="middle" font-size="15" font-weight="bold">${title}</text>`);
    out.push(`<rect x="${x0 + 60}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    for (let i = 0; i <= 4; i++) {
      const xv = (xMax * i) / 4;
      out.push(`<text x="${sx(xv)}" y="${top + ph + 16}" text-anchor="middle" font-size="11">${Math.round(xv / 1000)}k</text>`);
      const yv = logY ? 10 ** (Math.log10(yMin) + ((Math.log10(yMax) - Math.log10(yMin)) * i) / 4) : (yMax * i) / 4;
      out.push(`<text x="${x0 + 55}" y="${sy(yv) + 4}" text-anchor="end" font-size="11">${yv >= 10 ? Math.round(yv) : yv.toFixed(1)}</text>`);
      out.push(`<line x1="${x0 + 60}" x2="${x0 + 60 + pw}" y1="${sy(yv)}" y2="${sy(yv)}" stroke="#eee"/>`);
    }
    out.push(`<text x="${x0 + 60 + pw / 2}" y="${top + ph + 34}" text-anchor="middle" font-size="12">deliveries per second</text>`);
    if (mark !== undefined && mark > yMin && mark < yMax) {
      out.push(`<line x1="${x0 + 60}" x2="${x0 + 60 + pw}" y1="${sy(mark)}" y2="${sy(mark)}" stroke="#c00" stroke-dasharray="4 3"/>`);
      out.push(`<text x="${x0 + 64 + pw}" y="${sy(mark) + 4}" font-size="10" fill="#c00">${mark} ms</text>`);
    }
    out.push(`<text x="${x0 + 14}" y="${top + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${top + ph / 2})">${yLabel}</text>`);
    for (const s of series) {
      const c = COLORS[s.sys] ?? '#000';
      out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
      for (const p of s.points) out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3.5" fill="${p.ok ? c : 'white'}" stroke="${c}"/>`);
    }
    return out.join('\n');
  };
  const legend = systemsOf(r)
    .map((s, i) => `<rect x="${70 + i * 180}" y="${H - 22}" width="12" height="12" fill="${COLORS[s] ?? '#000'}"/><text x="${88 + i * 180}" y="${H - 12}" font-size="12">${NAMES[s] ?? s}</text>`)
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${panel(0, 'Server CPU per delivery (µs)', (s) => s.usPerDelivery, 'µs of server CPU per delivery', false)}
${panel(480, 'p99 delivery latency (ms, log scale)', (s) => s.p99Ms, 'p99 ms', true, Number(r.meta.plan.p99LimitMs ?? 50))}
${legend}
<text x="${W - 10}" y="16" text-anchor="end" font-size="11" fill="#666">fan-out ladder, ${r.meta.date.slice(0, 16)}; hollow points: p99 ≥ ${r.meta.plan.p99LimitMs ?? 50} ms or a loss in most repetitions</text>
</svg>
`;
}
