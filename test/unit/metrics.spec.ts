import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { BatchHistogram, Metrics } from '../../src/metrics/metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

function histogram(): { registry: Registry; h: BatchHistogram } {
  const registry = new Registry();
  return { registry, h: new BatchHistogram({ name: 'h', help: 'h', buckets: BUCKETS, registers: [registry] }) };
}

/** The exposition lines of the metrics named, sorted (the HELP and TYPE lines left out). */
async function lines(registry: Registry, prefix: string): Promise<string[]> {
  return (await registry.metrics())
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .sort();
}

describe('BatchHistogram.observeMany', () => {
  it.each<[string, number[], number]>([
    ['below the first bucket', [0.0005], 3],
    ['exactly on a bound', [0.01], 4],
    ['between bounds', [0.05], 2],
    ['above the last bound (+Inf only)', [7], 5],
    ['zero', [0], 1],
    ['several values, one after the other', [0.002, 0.5, 3, 0.002], 6],
  ])('%s: the same exposition as n calls of observe', async (_what, values, n) => {
    const batched = histogram();
    const one = histogram();
    for (const v of values) {
      batched.h.observeMany(v, n);
      for (let i = 0; i < n; i++) one.h.observe(v);
    }
    const [got, want] = [await lines(batched.registry, 'h_'), await lines(one.registry, 'h_')];
    const sum = (ls: string[]) => Number(ls.find((l) => l.startsWith('h_sum '))!.split(' ')[1]);
    // Buckets and count exactly; the sum as n additions would round it.
    expect(got.filter((l) => !l.startsWith('h_sum'))).toEqual(want.filter((l) => !l.startsWith('h_sum')));
    expect(sum(got)).toBeCloseTo(sum(want), 9);
  });
});

describe('Metrics.frameSent', () => {
  const sentTotal = async (m: Metrics, topic: string) => (await lines(m.registry, `switchboard_frames_sent_total{topic="${topic}"}`))[0];
  const latencyCount = async (m: Metrics) => (await lines(m.registry, 'switchboard_delivery_latency_seconds_count'))[0];

  it('frames of interleaved events are counted per topic, and visible to a scrape in the same tick', async () => {
    const m = new Metrics();
    const now = Date.now();
    const writes: [string, number][] = [
      ['tree', now],
      ['tree', now],
      ['tree', now],
      ['tasks', now],
      ['tree', now - 5],
      ['tasks', now],
      ['tasks', now],
    ];
    for (const [topic, at] of writes) m.frameSent(topic, at);
    // registry.metrics() runs before the end-of-tick flush: the scrape flushes what is pending.
    expect(await sentTotal(m, 'tree')).toBe('switchboard_frames_sent_total{topic="tree"} 4');
    expect(await sentTotal(m, 'tasks')).toBe('switchboard_frames_sent_total{topic="tasks"} 3');
    expect(await latencyCount(m)).toBe('switchboard_delivery_latency_seconds_count 7');
  });

  it('is flushed at the end of the tick, without a scrape', async () => {
    const m = new Metrics();
    m.frameSent('idm', Date.now());
    m.frameSent('idm', Date.now() - 10_000);
    await new Promise((resolve) => setImmediate(resolve));
    const counts = (m.deliveryLatency as unknown as { hashMap: Record<string, { count: number }> }).hashMap[''];
    expect(counts.count).toBe(2);
    // The 10-second-old one went past the last bucket (5 s): only +Inf holds it.
    expect(await lines(m.registry, 'switchboard_delivery_latency_seconds_bucket{le="5"}')).toEqual(['switchboard_delivery_latency_seconds_bucket{le="5"} 1']);
  });
});
