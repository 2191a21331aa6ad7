/**
 * The memory budget (README, Security and limits): how much memory the process may use, and a
 * cheap way for the parts that hold client-driven data (replays, chat HISTORY pages, answers
 * of HTTP endpoints) to ask before they spend it, so that RSS stays under the container's
 * limit whatever clients do: work that does not fit is refused, with an answer, instead of
 * the process being killed.
 *
 * The decision is `used + reserved + asked <= ceiling`, the ceiling being the budget less a
 * safety margin. `used` is RSS, except that memory the allocator keeps after it was freed
 * (glibc does not give freed Buffers back to the system: RSS stays at its high-water mark)
 * is not counted, as it is reused before RSS grows again: `used` is the lower of RSS and V8's
 * heap (as committed: V8 gives pages back by itself after a while) plus external memory plus
 * what RSS held besides at start (code, the runtime). Without that, one peak would make every
 * later request look over budget for the life of the process.
 * Memory is sampled at most every SAMPLE_MS (RSS is a syscall), not per call; the
 * reservations outstanding count at once, so that many requests admitted between two
 * samples cannot overshoot together. A reservation is also in `used` once its bytes are
 * allocated: counted twice while held, which errs on refusing.
 *
 * A replay, say, reserves nothing up front, `grow`s its reservation by each frame's bytes as
 * it reads them (stopping when refused) and `release`s them once the session has written them all.
 */
import { readFileSync } from 'node:fs';

/** What a reservation is for: the `use` label of switchboard_memory_refused_total (a fixed set). */
export const MEMORY_USES = ['replay', 'chat_history', 'http_answer'] as const;
export type MemoryUse = (typeof MEMORY_USES)[number];

/** Where the budget came from, for the start-up log. */
export type BudgetSource = 'MEMORY_BUDGET_MB' | 'cgroup v2' | 'cgroup v1' | 'none';

/** Memory is read again when the last sample is older than this. */
export const SAMPLE_MS = 100;

/** Above this a cgroup "limit" means none (cgroup v1 writes 9223372036854771712 for unlimited). */
const NO_LIMIT_ABOVE = Number.MAX_SAFE_INTEGER;

export interface BudgetSources {
  /** MEMORY_BUDGET_MB: wins when set; 0 means no budget. */
  budgetMb?: number;
  /** The text of /sys/fs/cgroup/memory.max (cgroup v2), when the file exists. */
  cgroupV2?: string;
  /** The text of /sys/fs/cgroup/memory/memory.limit_in_bytes (cgroup v1), when the file exists. */
  cgroupV1?: string;
}

/** The budget in bytes (undefined: none) and where it came from. Pure. */
export function budgetFrom({ budgetMb, cgroupV2, cgroupV1 }: BudgetSources): { bytes?: number; source: BudgetSource } {
  if (budgetMb !== undefined) return { bytes: budgetMb > 0 ? budgetMb * 1024 * 1024 : undefined, source: 'MEMORY_BUDGET_MB' };
  // v2 first: on a v2 host the v1 file does not exist, and "max" there means no limit.
  const text = cgroupV2 ?? cgroupV1;
  if (text === undefined) return { source: 'none' };
  const bytes = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  return bytes > 0 && bytes <= NO_LIMIT_ABOVE ? { bytes, source: cgroupV2 !== undefined ? 'cgroup v2' : 'cgroup v1' } : { source: 'none' };
}

/** The container's files (a missing file is undefined). */
export function readCgroupLimits(): Pick<BudgetSources, 'cgroupV2' | 'cgroupV1'> {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  return { cgroupV2: read('/sys/fs/cgroup/memory.max'), cgroupV1: read('/sys/fs/cgroup/memory/memory.limit_in_bytes') };
}

/** What the process's memory is made of (process.memoryUsage()'s fields that matter here). */
export interface MemoryUsage {
  rss: number;
  heapTotal: number;
  external: number;
}

export interface MemoryBudgetOptions {
  /** The budget, bytes; undefined: none (nothing is ever refused). */
  limitBytes?: number;
  /** Part of the budget kept free, percent: the ceiling is the budget less this. */
  marginPercent: number;
  /** The process's memory (injectable for tests). */
  usage?: () => MemoryUsage;
  now?: () => number;
  /** Told of every change of the bytes reserved, and of every refusal (metrics). */
  reservedChanged?: (bytes: number) => void;
  refused?: (use: MemoryUse) => void;
}

/** Bytes held against the budget until released. */
export interface MemoryReservation {
  /** Bytes still held. */
  readonly bytes: number;
  /** Takes `n` more bytes; false (and nothing taken) when they do not fit. */
  grow(n: number): boolean;
  /** Gives back `n` bytes (all that is left by default); releasing more than is held releases what is held. */
  release(n?: number): void;
}

export class MemoryBudget {
  /** The budget, bytes; undefined when there is none. */
  readonly limit?: number;
  /** Used plus reserved memory may not pass this: the budget less the margin. */
  readonly ceiling: number;
  private readonly usage: () => MemoryUsage;
  private readonly now: () => number;
  /** What RSS held at start besides V8's heap and external memory: code, the runtime. */
  private readonly overhead: number;
  private sampledUsed = 0;
  private sampledAt = -Infinity;
  private reservedBytes = 0;

  constructor(private readonly opts: MemoryBudgetOptions) {
    this.limit = opts.limitBytes;
    this.ceiling = opts.limitBytes === undefined ? Infinity : Math.floor((opts.limitBytes * (100 - opts.marginPercent)) / 100);
    this.usage = opts.usage ?? (() => process.memoryUsage());
    this.now = opts.now ?? (() => performance.now());
    const { rss, heapTotal, external } = this.usage();
    this.overhead = Math.max(0, rss - heapTotal - external);
  }

  /** Memory in use as the budget counts it (sampled again when older than SAMPLE_MS). */
  get used(): number {
    const now = this.now();
    if (now - this.sampledAt >= SAMPLE_MS) {
      const { rss, heapTotal, external } = this.usage();
      this.sampledUsed = Math.min(rss, this.overhead + heapTotal + external);
      this.sampledAt = now;
    }
    return this.sampledUsed;
  }

  /** Bytes reserved and not yet released. */
  get reserved(): number {
    return this.reservedBytes;
  }

  /** Whether `bytes` more may be spent now (reserves nothing). */
  fits(bytes: number): boolean {
    return this.limit === undefined || this.used + this.reservedBytes + bytes <= this.ceiling;
  }

  /** Reserves `bytes` for `use`; undefined (counted as refused) when they do not fit. */
  reserve(bytes: number, use: MemoryUse): MemoryReservation | undefined {
    if (!this.take(bytes, use)) return undefined;
    return new Reservation(
      bytes,
      (n) => this.take(n, use),
      (n) => this.give(n),
    );
  }

  private take(bytes: number, use: MemoryUse): boolean {
    if (!this.fits(bytes)) {
      this.opts.refused?.(use);
      return false;
    }
    this.change(bytes);
    return true;
  }

  private give(bytes: number): void {
    if (bytes) this.change(-bytes);
  }

  private change(delta: number): void {
    this.reservedBytes += delta;
    this.opts.reservedChanged?.(this.reservedBytes);
  }
}

class Reservation implements MemoryReservation {
  constructor(
    private held: number,
    private readonly take: (n: number) => boolean,
    private readonly give: (n: number) => void,
  ) {}

  get bytes(): number {
    return this.held;
  }

  grow(n: number): boolean {
    if (!this.take(n)) return false;
    this.held += n;
    return true;
  }

  release(n = this.held): void {
    const given = Math.min(Math.max(0, n), this.held);
    this.held -= given;
    this.give(given);
  }
}
