import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type HistogramConfiguration } from 'prom-client';
import { httpAnswerTally } from '../common/bounded-fetch.js';
import { EventLoopLag } from './event-loop-lag.js';

/** prom-client's own lag sampler, never to fire: EventLoopLag samples only while the service works. */
const NEVER_MS = 2 ** 31 - 1;

/** prom-client 15's state of an unlabelled histogram series (not in its types). */
interface Series {
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * A histogram that also takes `n` equal observations at once. prom-client has no weighted
 * `observe`: this adds to the series' bucket, sum and count what `n` calls of `observe`
 * would (a test compares the two), and falls back to those calls should the internals change.
 */
export class BatchHistogram extends Histogram {
  private readonly bounds: readonly number[];

  constructor(config: HistogramConfiguration<string>) {
    super(config);
    this.bounds = config.buckets ?? [];
  }

  observeMany(value: number, n: number): void {
    const series = (this as unknown as { hashMap?: Record<string, Series> }).hashMap?.[''];
    if (!series || !Number.isFinite(value) || this.bounds.length === 0) {
      for (let i = 0; i < n; i++) this.observe(value);
      return;
    }
    const bound = this.bounds.find((b) => value <= b);
    if (bound !== undefined) series.bucketValues[bound] += n;
    series.sum += value * n;
    series.count += n;
  }
}

/**
 * Every Prometheus metric of the service, on a registry of its own (so that two
 * instances in one process, as in the tests, do not collide).
 */
@Injectable()
export class Metrics implements OnModuleDestroy {
  readonly registry = new Registry();

  readonly connections = new Gauge({ name: 'switchboard_connections', help: 'Open WebSocket connections', labelNames: ['endpoint'], registers: [this.registry] });
  readonly sessions = new Gauge({ name: 'switchboard_sessions', help: 'Subscribed sessions', labelNames: ['endpoint'], registers: [this.registry] });
  readonly subscribes = new Counter({ name: 'switchboard_subscribes_total', help: 'Subscribe attempts by result (ok or a fixed refusal label)', labelNames: ['endpoint', 'result'], registers: [this.registry] });
  readonly busEvents = new Counter({ name: 'switchboard_bus_events_total', help: 'Events received from the bus, per topic', labelNames: ['topic'], registers: [this.registry] });
  readonly busRejected = new Counter({ name: 'switchboard_bus_rejected_total', help: 'Bus payloads refused: reason schema, error, too_large or too_deep', labelNames: ['topic', 'reason'], registers: [this.registry] });
  readonly upgradesRefused = new Counter({ name: 'switchboard_upgrades_refused_total', help: 'WebSocket upgrades refused, by fixed reason', labelNames: ['reason'], registers: [this.registry] });
  readonly framesSent = new Counter({
    name: 'switchboard_frames_sent_total',
    help: 'Frames written to sockets, per topic',
    labelNames: ['topic'],
    registers: [this.registry],
    collect: () => this.flushSent(),
  });
  readonly eventsDropped = new Counter({ name: 'switchboard_events_dropped_total', help: 'Events dropped on purpose (READ, unknown type, silent limiter...)', labelNames: ['topic', 'reason'], registers: [this.registry] });
  readonly eventsCoalesced = new Counter({ name: 'switchboard_events_coalesced_total', help: 'Events merged into a pending one of the same key (node batches, coalesced pushes, task progress), per topic', labelNames: ['topic'], registers: [this.registry] });
  readonly closes = new Counter({ name: 'switchboard_closes_total', help: 'Connections closed by the server, per close code', labelNames: ['code'], registers: [this.registry] });
  readonly outboxQueued = new Gauge({ name: 'switchboard_outbox_queued_frames', help: 'Frames waiting in session outboxes (all sessions)', registers: [this.registry] });
  readonly busConnected = new Gauge({ name: 'switchboard_bus_connected', help: '1 when the bus (Redis) is connected; always 1 for the embedded bus', registers: [this.registry] });
  readonly redisReconnects = new Counter({ name: 'switchboard_redis_reconnects_total', help: 'Redis reconnection attempts', registers: [this.registry] });
  readonly resumes = new Counter({
    name: 'switchboard_resume_total',
    help: 'Resumes by result: recovered, or why not (not_an_offset, other_epoch, future, expired, trimmed, too_many, too_large, too_long, timeout, busy, unavailable, error)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly historyLength = new Gauge({ name: 'switchboard_history_length', help: 'Entries in the shared event history (XLEN)', registers: [this.registry] });
  readonly historyMemory = new Gauge({ name: 'switchboard_history_memory_bytes', help: 'Memory of the shared event history (Redis MEMORY USAGE; estimated in embedded mode)', registers: [this.registry] });
  readonly historyLag = new Gauge({ name: 'switchboard_history_lag_seconds', help: 'How far this instance delivers behind the newest history entry (stream time)', registers: [this.registry] });
  readonly historyReadable = new Gauge({ name: 'switchboard_history_readable', help: '1 while this instance can read the history', registers: [this.registry] });
  readonly historyLeader = new Gauge({ name: 'switchboard_history_appender', help: '1 while this instance holds the lease to append pub/sub messages to the history', registers: [this.registry] });
  readonly historyLost = new Gauge({ name: 'switchboard_history_ingress_lost', help: 'Pub/sub messages this instance received that no instance appended to the history in time (since start)', registers: [this.registry] });
  readonly historyAnomalies = new Counter({
    name: 'switchboard_history_anomalies_total',
    help: 'What the history read and did not expect: bad_entry, bad_feed, future_id, head_backwards, ids_exhausted, lost_entries (logged once per kind)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly replayedFrames = new Counter({ name: 'switchboard_replayed_frames_total', help: 'Frames sent by resumes', registers: [this.registry] });
  readonly deliveryLatency = new BatchHistogram({
    name: 'switchboard_delivery_latency_seconds',
    help: 'From an event reaching the service to its frame being written to a socket',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5],
    registers: [this.registry],
    collect: () => this.flushSent(),
  });
  readonly chatMessages = new Counter({ name: 'switchboard_chat_messages_total', help: 'Chat messages posted', registers: [this.registry] });
  readonly chatHistoryRefused = new Counter({
    name: 'switchboard_chat_history_refused_total',
    help: 'HISTORY requests refused: reason unread (the session has not read what it was sent) or memory (the memory budget)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly memoryBudget = new Gauge({ name: 'switchboard_memory_budget_bytes', help: 'The memory budget (MEMORY_BUDGET_MB or the cgroup limit); 0: none', registers: [this.registry] });
  readonly memoryRss = new Gauge({
    name: 'switchboard_memory_rss_bytes',
    help: 'Resident set size (what the container limit counts)',
    registers: [this.registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  /** Set by the memory module: memory in use as the budget counts it, read at each scrape. */
  memoryUsedNow?: () => number;
  readonly memoryUsed = new Gauge({
    name: 'switchboard_memory_used_bytes',
    help: 'Memory in use as the memory budget counts it: RSS, less what the allocator keeps after it was freed',
    registers: [this.registry],
    collect: () => {
      if (this.memoryUsedNow) this.memoryUsed.set(this.memoryUsedNow());
    },
  });
  readonly memoryReserved = new Gauge({ name: 'switchboard_memory_reserved_bytes', help: 'Bytes reserved against the memory budget and not yet released', registers: [this.registry] });
  readonly memoryRefused = new Counter({
    name: 'switchboard_memory_refused_total',
    help: 'Work refused because it did not fit in the memory budget, by use (replay, chat_history, http_answer)',
    labelNames: ['use'],
    registers: [this.registry],
  });
  readonly httpAnswers = new Counter({
    name: 'switchboard_http_answers_total',
    help: 'Requests to HTTP endpoints (node_lookup, node_auth, workspaces, jwks) by result: ok, status, redirect, too_large, timeout, memory, error (this process)',
    labelNames: ['target', 'result'],
    registers: [this.registry],
    // Tallied by fetchBounded for the whole process (its callers need no Metrics), copied at each scrape.
    collect() {
      this.reset();
      for (const [target, result, n] of httpAnswerTally()) this.inc({ target, result }, n);
    },
  });

  private readonly sentByTopic = new Map<string, { inc(n: number): void }>();
  /** Frames written since the last flush, all of one event: `sentCount` frames of `sentTopic` received at `sentAt`. */
  private sentTopic = '';
  private sentAt = 0;
  private sentCount = 0;
  private flushQueued = false;

  readonly eventLoopLag: EventLoopLag;

  constructor() {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: NEVER_MS });
    this.eventLoopLag = new EventLoopLag(this.registry);
  }

  onModuleDestroy(): void {
    this.eventLoopLag.stop();
  }

  /**
   * Per frame written: the hot path. A fan-out writes the frames of one event one after the
   * other, so they are counted here and recorded together, once per event and topic, when
   * the next event's first frame comes, at the end of the tick, or at a scrape: the counter
   * goes up by their number, and the latency histogram gets as many observations of the time
   * from the event's arrival to the flush (the last of them written).
   */
  frameSent(topic: string, receivedAt: number): void {
    if (this.sentCount && topic === this.sentTopic && receivedAt === this.sentAt) {
      this.sentCount++;
      return;
    }
    this.flushSent();
    this.sentTopic = topic;
    this.sentAt = receivedAt;
    this.sentCount = 1;
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushAtTickEnd);
    }
  }

  private readonly flushAtTickEnd = (): void => {
    this.flushQueued = false;
    this.flushSent();
  };

  private flushSent(): void {
    const n = this.sentCount;
    if (!n) return;
    this.sentCount = 0;
    let counter = this.sentByTopic.get(this.sentTopic);
    if (!counter) this.sentByTopic.set(this.sentTopic, (counter = this.framesSent.labels(this.sentTopic)));
    counter.inc(n);
    const now = Date.now();
    this.deliveryLatency.observeMany((now - this.sentAt) / 1000, n);
    this.eventLoopLag.busy(now);
  }
}
