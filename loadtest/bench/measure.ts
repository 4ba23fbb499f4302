/**
 * A measurement window: the CPU seconds of the system under test, of the load generators, of the
 * harness itself and of everything else on the machine, plus wall time, over one piece of work.
 * "Everything else" is what makes a wall-clock figure unreliable on a shared 2-core machine, so
 * every step records it beside its result.
 */
import { CpuMeter, machineCpu, rssBytes } from './procstat';
import type { RunningSystem, ServerProcess } from './systems';

export interface Window {
  wallS: number;
  /** CPU seconds of every server process of the system. */
  serverCpuS: number;
  /** The same, by role (worker, nats, redis, nginx, pm2, server). */
  serverCpuByRole: Record<string, number>;
  genCpuS: number;
  harnessCpuS: number;
  /** Busy CPU seconds on the machine that were none of the above. */
  otherCpuS: number;
}

/** Runs `work` and measures it. Server processes are re-read every 250 ms (a reload replaces them). */
export async function measured<T>(sys: RunningSystem, genPids: number[], work: () => Promise<T>): Promise<{ result: T; window: Window }> {
  let procs: ServerProcess[] = await sys.processes();
  const roles = new Map<string, CpuMeter>();
  const meterFor = (role: string) => {
    let m = roles.get(role);
    if (!m) roles.set(role, (m = new CpuMeter([])));
    return m;
  };
  const byRole = (list: ServerProcess[]) => {
    const m = new Map<string, number[]>();
    for (const p of list) m.set(p.role, [...(m.get(p.role) ?? []), p.pid]);
    return m;
  };
  for (const [role, pids] of byRole(procs)) roles.set(role, new CpuMeter(pids));
  const gen = new CpuMeter(genPids);
  const harness0 = process.cpuUsage();
  const machine0 = machineCpu();
  const t0 = performance.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await new Promise((r) => setTimeout(r, 250));
      if (!sampling) break;
      procs = await sys.processes().catch(() => procs);
      for (const [role, pids] of byRole(procs)) meterFor(role).sample(pids);
    }
  })();
  try {
    const result = await work();
    return { result, window: close() };
  } finally {
    sampling = false;
    await sampler;
  }

  function close(): Window {
    const wallS = (performance.now() - t0) / 1000;
    const serverCpuByRole: Record<string, number> = {};
    for (const [role, pids] of byRole(procs)) serverCpuByRole[role] = meterFor(role).sample(pids);
    for (const [role, m] of roles) serverCpuByRole[role] ??= m.sample([]);
    const serverCpuS = Object.values(serverCpuByRole).reduce((a, b) => a + b, 0);
    const genCpuS = gen.sample(genPids);
    const h = process.cpuUsage(harness0);
    const harnessCpuS = (h.user + h.system) / 1e6;
    const machine1 = machineCpu();
    const otherCpuS = Math.max(0, machine1.busy - machine0.busy - serverCpuS - genCpuS - harnessCpuS);
    return { wallS, serverCpuS, serverCpuByRole, genCpuS, harnessCpuS, otherCpuS };
  }
}

/** RSS of every server process, in bytes, in all and by role. */
export async function serverRss(sys: RunningSystem): Promise<{ total: number; byRole: Record<string, number> }> {
  const byRole: Record<string, number> = {};
  let total = 0;
  for (const p of await sys.processes()) {
    const rss = rssBytes(p.pid) ?? 0;
    byRole[p.role] = (byRole[p.role] ?? 0) + rss;
    total += rss;
  }
  return { total, byRole };
}
