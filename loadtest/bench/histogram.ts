/**
 * A latency histogram in microseconds with about 1.5% resolution: exact up to 127 µs, then 64
 * buckets per power of two. Fixed size, so generators can ship it over IPC as a plain array and
 * the harness can add them up: percentiles over all receivers without keeping every sample.
 */
const SUB = 64;
const LINEAR = 2 * SUB; // values below this are their own bucket
const BUCKETS = LINEAR + 30 * SUB;

/** Bucket index of a value in µs. */
function indexOf(us: number): number {
  const v = Math.max(0, Math.floor(us));
  if (v < LINEAR) return v;
  const e = 31 - Math.clz32(v); // floor(log2 v), >= 7
  const shift = e - 6;
  const idx = LINEAR + (shift - 1) * SUB + ((v >>> shift) - SUB);
  return Math.min(BUCKETS - 1, idx);
}

/** The middle of a bucket, in µs. */
function valueOf(idx: number): number {
  if (idx < LINEAR) return idx;
  const shift = Math.floor((idx - LINEAR) / SUB) + 1;
  const mantissa = ((idx - LINEAR) % SUB) + SUB;
  return (mantissa << shift) + (1 << (shift - 1));
}

export class Histogram {
  readonly counts: number[];
  total = 0;
  max = 0;

  constructor(counts?: number[]) {
    this.counts = counts ? counts.slice() : new Array<number>(BUCKETS).fill(0);
    for (const c of this.counts) this.total += c;
    if (counts) for (let i = BUCKETS - 1; i >= 0; i--) if (counts[i]) {
      this.max = valueOf(i);
      break;
    }
  }

  /** Records one value in µs. */
  add(us: number): void {
    this.counts[indexOf(us)]++;
    this.total++;
    if (us > this.max) this.max = us;
  }

  /** Adds another histogram's counts into this one. */
  merge(other: Histogram | number[]): void {
    const counts = Array.isArray(other) ? other : other.counts;
    for (let i = 0; i < BUCKETS; i++) {
      const c = counts[i];
      if (c) {
        this.counts[i] += c;
        this.total += c;
        const v = valueOf(i);
        if (v > this.max) this.max = v;
      }
    }
  }

  /** The value in µs at percentile p (0-100); NaN when empty. */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return valueOf(i);
    }
    return this.max;
  }

  /** How many values are above `us`. */
  countAbove(us: number): number {
    let n = 0;
    for (let i = indexOf(us) + 1; i < BUCKETS; i++) n += this.counts[i];
    return n;
  }
}
