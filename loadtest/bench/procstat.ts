/**
 * CPU time and memory of processes, and the machine's total CPU, read from /proc (Linux). CPU
 * time per unit of work is the benchmark's headline figure because it holds up when other work
 * shares the cores; wall-clock throughput does not.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime (USER_HZ, 100 on every Linux build we target). */
const HZ = 100;

/** CPU seconds (user + system, all threads) a process has used, or null if it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / HZ;
  } catch {
    return null;
  }
}

/** Resident set size in bytes, or null if the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return null;
  }
}

/** The machine's busy and total CPU seconds since boot, over all cores. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already inside user)
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / HZ, total: total / HZ };
}

/**
 * CPU seconds used by a changing set of processes between two samples. A process that appears
 * between them (a reload's new workers) counts from its start; one that vanished counts up to
 * the last sample that saw it.
 */
export class CpuMeter {
  private readonly last = new Map<number, number>();
  private used = 0;

  constructor(pids: number[]) {
    this.sample(pids, true);
  }

  /** Reads the processes now; returns CPU seconds used since the meter was made. */
  sample(pids: number[], first = false): number {
    for (const pid of pids) {
      const now = cpuSeconds(pid);
      if (now === null) continue;
      const before = this.last.get(pid);
      if (before === undefined) {
        if (!first) this.used += now;
      } else this.used += now - before;
      this.last.set(pid, now);
    }
    return this.used;
  }
}
