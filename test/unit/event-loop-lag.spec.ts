import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { EventLoopLag } from '../../src/ops/event-loop-lag.js';
import { Metrics } from '../../src/ops/metrics.js';

const FIGURES = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `name value` of every lag gauge in a scrape. */
async function lagGauges(registry: Registry): Promise<Record<string, number>> {
  const text = await registry.metrics();
  const found: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^nodejs_eventloop_lag_(\w+?)_seconds (\S+)$/.exec(line);
    if (m) found[m[1]] = Number(m[2]);
  }
  return found;
}

function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe('EventLoopLag', () => {
  it('samples nothing until a delivery, and its gauges read 0 meanwhile', async () => {
    const registry = new Registry();
    const lag = new EventLoopLag(registry, 200);
    blockFor(150); // a stall while idle is not sampled
    await sleep(150);
    expect(lag.active).toBe(false);
    expect(await lagGauges(registry)).toEqual(Object.fromEntries(FIGURES.map((f) => [f, 0])));
  });

  it('sees a stall after a delivery, then stops once idle for its window', async () => {
    const registry = new Registry();
    const lag = new EventLoopLag(registry, 400);
    lag.busy(Date.now());
    expect(lag.active).toBe(true);
    await sleep(150); // let the sampler take a first sample
    blockFor(250);
    await sleep(150);
    const seen = await lagGauges(registry);
    expect(seen.max).toBeGreaterThanOrEqual(0.1);
    expect(seen.min).toBeGreaterThan(0);
    // The scrape started a new period; nothing stalls any more, and 400 ms after the last delivery it stops.
    await sleep(700);
    expect(lag.active).toBe(false);
    lag.stop();
  });

  it('keeps sampling while deliveries keep coming', async () => {
    const lag = new EventLoopLag(new Registry(), 300);
    for (let i = 0; i < 5; i++) {
      lag.busy(Date.now());
      await sleep(100);
    }
    expect(lag.active).toBe(true);
    lag.stop();
    expect(lag.active).toBe(false);
  });
});

describe('Metrics: the lag gauges', () => {
  it('are exposed once each under prom-client\'s names, with its nodejs_eventloop_lag_seconds', async () => {
    const m = new Metrics();
    const text = await m.registry.metrics();
    for (const f of FIGURES) expect(text.match(new RegExp(`^# TYPE nodejs_eventloop_lag_${f}_seconds gauge$`, 'gm'))).toHaveLength(1);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    m.onModuleDestroy();
  });

  it('start sampling when frames are sent', async () => {
    const m = new Metrics();
    expect(m.eventLoopLag.active).toBe(false);
    m.frameSent('tree', Date.now());
    await new Promise((r) => setImmediate(r));
    expect(m.eventLoopLag.active).toBe(true);
    m.onModuleDestroy();
  });
});
