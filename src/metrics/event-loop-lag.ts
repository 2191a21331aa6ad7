import { monitorEventLoopDelay, type Histogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** The sampler's period while the service works: a stall of 100 ms or more is always seen. */
const SAMPLE_MS = 100;
/** How long after its last delivery the service counts as idle and the sampler stops. */
const LAG_IDLE_AFTER_MS = 5000;

/** prom-client's lag gauges that read the sampler (prom-client's own `nodejs_eventloop_lag_seconds` stays). */
const FIGURES = [
  ['min', (h: Histogram) => h.min],
  ['max', (h: Histogram) => h.max],
  ['mean', (h: Histogram) => h.mean],
  ['stddev', (h: Histogram) => h.stddev],
  ['p50', (h: Histogram) => h.percentile(50)],
  ['p90', (h: Histogram) => h.percentile(90)],
  ['p99', (h: Histogram) => h.percentile(99)],
] as const;

/**
 * The event-loop lag, sampled only while the service delivers. An always-on sampler (prom-client's
 * native timer) wakes an idle process ten to a hundred times a second, and on a VM each wake-up of
 * an idle process costs about half a millisecond of CPU: that was most of an idle instance's CPU.
 * This one starts with a delivery and stops LAG_IDLE_AFTER_MS after the last; an idle process
 * has no lag to report, and its gauges read 0. It serves prom-client's `nodejs_eventloop_lag_*`
 * gauges under their usual names (their own sampler is left unused: see Metrics).
 */
export class EventLoopLag {
  private readonly histogram = monitorEventLoopDelay({ resolution: SAMPLE_MS });
  private sampling = false;
  private lastBusy = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    registry: Registry,
    private readonly idleAfterMs = LAG_IDLE_AFTER_MS,
  ) {
    const gauges: { read: (h: Histogram) => number; gauge: Gauge }[] = [];
    // A scrape reads the first gauge first: it sets them all and starts a new period.
    const collect = () => {
      for (const { read, gauge } of gauges) gauge.set(this.histogram.count ? read(this.histogram) / 1e9 : 0);
      this.histogram.reset();
    };
    for (const [figure, read] of FIGURES) {
      const name = `nodejs_eventloop_lag_${figure}_seconds`;
      registry.removeSingleMetric(name);
      const help = `The ${figure} of the event loop lag in seconds, while the service delivers.`;
      gauges.push({ read, gauge: new Gauge({ name, help, registers: [registry], collect: gauges.length ? undefined : collect }) });
    }
  }

  /** A delivery happened at `now` (ms): sample from now until `idleAfterMs` after the last one. */
  busy(now: number): void {
    this.lastBusy = now;
    if (this.sampling) return;
    this.sampling = true;
    this.histogram.enable();
    this.timer = setTimeout(this.stopIfIdle, this.idleAfterMs).unref();
  }

  private readonly stopIfIdle = (): void => {
    const idleFor = Date.now() - this.lastBusy;
    if (idleFor < this.idleAfterMs) {
      this.timer = setTimeout(this.stopIfIdle, this.idleAfterMs - idleFor).unref();
      return;
    }
    this.stop();
  };

  stop(): void {
    clearTimeout(this.timer);
    this.histogram.disable();
    this.sampling = false;
  }

  get active(): boolean {
    return this.sampling;
  }
}
