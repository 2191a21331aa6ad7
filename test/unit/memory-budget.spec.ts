import { describe, expect, it } from '@jest/globals';
import { MemoryBudget, SAMPLE_MS, budgetFrom, type BudgetSources, type MemoryUse } from '../../src/memory/memory-budget.js';

const MiB = 1024 * 1024;

describe('budgetFrom: MEMORY_BUDGET_MB, else the cgroup limit, else none', () => {
  it.each<[string, BudgetSources, number | undefined, string]>([
    ['MEMORY_BUDGET_MB wins over the cgroup', { budgetMb: 256, cgroupV2: '536870912\n' }, 256 * MiB, 'MEMORY_BUDGET_MB'],
    ['MEMORY_BUDGET_MB=0: none, whatever the cgroup says', { budgetMb: 0, cgroupV2: '536870912\n' }, undefined, 'MEMORY_BUDGET_MB'],
    ['cgroup v2 limit (the chart: 512Mi)', { cgroupV2: '536870912\n' }, 512 * MiB, 'cgroup v2'],
    ['cgroup v2 "max": none', { cgroupV2: 'max\n' }, undefined, 'none'],
    ['cgroup v2 first, v1 ignored', { cgroupV2: 'max\n', cgroupV1: '536870912\n' }, undefined, 'none'],
    ['cgroup v1 limit', { cgroupV1: '268435456\n' }, 256 * MiB, 'cgroup v1'],
    ['cgroup v1 unlimited (PAGE_COUNTER_MAX)', { cgroupV1: '9223372036854771712\n' }, undefined, 'none'],
    ['a value that is not a number', { cgroupV2: 'lots\n' }, undefined, 'none'],
    ['a zero limit', { cgroupV2: '0\n' }, undefined, 'none'],
    ['no file at all', {}, undefined, 'none'],
  ])('%s', (_name, sources, bytes, source) => {
    expect(budgetFrom(sources)).toEqual(bytes === undefined ? { source } : { bytes, source });
  });
});

/** A budget of 100 MiB (null: none) with a 10 % margin (ceiling 90 MiB), memory and clock set by the test. */
function budget(limitMb: number | null = 100) {
  const mem = { rss: 50 * MiB, heapTotal: 20 * MiB, external: 0 };
  const clock = { now: 0 };
  const refused: MemoryUse[] = [];
  const reserved: number[] = [];
  let reads = 0;
  const b = new MemoryBudget({
    limitBytes: limitMb === null ? undefined : limitMb * MiB,
    marginPercent: 10,
    usage: () => (reads++, { ...mem }),
    now: () => clock.now,
    refused: (use) => refused.push(use),
    reservedChanged: (n) => reserved.push(n),
  });
  return { b, mem, clock, refused, reserved, reads: () => reads };
}

describe('MemoryBudget', () => {
  it('refuses what would take used + reserved past the ceiling (the budget less the margin), counting each refusal', () => {
    const { b, refused, reserved } = budget();
    expect(b.ceiling).toBe(90 * MiB);
    const first = b.reserve(30 * MiB, 'replay')!;
    expect(first.bytes).toBe(30 * MiB);
    expect(b.fits(10 * MiB)).toBe(true);
    expect(b.reserve(11 * MiB, 'chat_history')).toBeUndefined(); // 50 + 30 + 11 > 90
    expect(b.reserve(10 * MiB, 'chat_history')).toBeDefined(); // 50 + 30 + 10 = 90
    expect(refused).toEqual(['chat_history']);
    expect(reserved).toEqual([30 * MiB, 40 * MiB]);
  });

  it('grows and releases a reservation by parts, as a replay does frame by frame; releases never go below zero', () => {
    const { b, refused } = budget();
    const r = b.reserve(0, 'replay')!;
    expect(r.grow(20 * MiB)).toBe(true);
    expect(r.grow(21 * MiB)).toBe(false); // 50 + 20 + 21 > 90: nothing taken
    expect(r.bytes).toBe(20 * MiB);
    expect(refused).toEqual(['replay']);
    r.release(5 * MiB);
    expect([r.bytes, b.reserved]).toEqual([15 * MiB, 15 * MiB]);
    r.release(100 * MiB);
    r.release();
    expect([r.bytes, b.reserved]).toEqual([0, 0]);
  });

  it('reads memory at most every SAMPLE_MS, not per call', () => {
    const { b, mem, clock, reads } = budget();
    const before = reads(); // one read at construction (the start-up overhead)
    expect(b.fits(40 * MiB)).toBe(true);
    mem.rss = 60 * MiB;
    mem.heapTotal = 30 * MiB;
    expect(b.fits(40 * MiB)).toBe(true); // the sample is fresh: 50 + 40 <= 90
    expect(reads() - before).toBe(1);
    clock.now += SAMPLE_MS;
    expect(b.fits(40 * MiB)).toBe(false); // 60 + 40 > 90
    expect(reads() - before).toBe(2);
  });

  it('does not count memory freed but kept by the allocator: used is the lower of RSS and the heap, external memory and the start-up overhead', () => {
    const { b, mem, clock } = budget();
    // At start: RSS 50, heap 20: 30 MiB of code and runtime besides the heap.
    mem.rss = 88 * MiB; // a peak came and went: RSS stays at its high-water mark...
    mem.heapTotal = 25 * MiB; // ...while what is in use is back near where it was
    mem.external = 5 * MiB;
    clock.now += SAMPLE_MS;
    expect(b.used).toBe(60 * MiB); // 30 + 25 + 5, not 88
    expect(b.fits(30 * MiB)).toBe(true);
    mem.heapTotal = 70 * MiB; // the heap itself grew: RSS counts
    clock.now += SAMPLE_MS;
    expect(b.used).toBe(88 * MiB);
    expect(b.fits(3 * MiB)).toBe(false);
  });

  it('without a budget refuses nothing', () => {
    const { b, refused } = budget(null);
    expect(b.ceiling).toBe(Infinity);
    expect(b.reserve(10_000 * MiB, 'http_answer')).toBeDefined();
    expect(refused).toEqual([]);
  });
});
