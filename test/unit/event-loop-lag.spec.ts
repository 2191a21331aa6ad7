import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Registry } from 'prom-client';
import { EventLoopLag } from '../../src/metrics/event-loop-lag.js';
import { Metrics } from '../../src/metrics/metrics.js';

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
  afterEach(() => {
    jest.useRealTimers();
  });

  it('samples nothing until a delivery, and its gauges read 0 meanwhile', async () => {
    const registry = new Registry();
    const lag = new EventLoopLag(registry, 200);
    blockFor(150); // a stall while idle is not sampled
    await new Promise((r) => setImmediate(r));
    expect(lag.active).toBe(false);
    expect(await lagGauges(registry)).toEqual(Object.fromEntries(FIGURES.map((f) => [f, 0])));
  });

  it('sees a stall that follows a delivery', async () => {
    const registry = new Registry();
    const lag = new EventLoopLag(registry, 10_000);
    lag.busy(Date.now());
    // The sampler's first tick only starts its clock: stall after it, then poll (each scrape
    // starts a new period; the late tick comes before any later timer). Tried again on a busy machine.
    let max = 0;
    for (let attempt = 0; attempt < 10 && max < 0.1; attempt++) {
      await sleep(150);
      blockFor(250);
      for (let poll = 0; poll < 5 && max < 0.1; poll++, await sleep(50)) max = (await lagGauges(registry)).max;
    }
    expect(max).toBeGreaterThanOrEqual(0.1);
    lag.stop();
  });

  it('keeps sampling while deliveries keep coming, and stops once idle for its window', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const lag = new EventLoopLag(new Registry(), 400);
    for (let i = 0; i < 5; i++) {
      lag.busy(Date.now());
      jest.advanceTimersByTime(300);
      expect(lag.active).toBe(true);
    }
    jest.advanceTimersByTime(99);
    expect(lag.active).toBe(true);
    jest.advanceTimersByTime(1);
    expect(lag.active).toBe(false);
    lag.busy(Date.now()); // and starts again with the next delivery
    expect(lag.active).toBe(true);
    lag.stop();
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
