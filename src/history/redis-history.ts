/**
 * The shared history in Redis (PROTOCOL 6).
 *
 * - A Redis Stream (`<key>`), capped by length (`MAXLEN ~`) and age (`MINID ~`). An entry is
 *   `c <channel> d <payload as published>` (plus `p 1` when it was appended from pub/sub);
 *   its stream id is its offset, the same on every instance.
 * - One hop: whoever appends (history-scripts.ts) announces the new entries, with their ids,
 *   on the feed channel (`<key>:feed`) in the same script. Every instance receives that one
 *   message on the bus's subscriber connection and delivers from it; it reads the stream only
 *   to fill a gap (the announcement's previous id is newer than its own last one: an entry
 *   appended by a plain XADD, a message lost while disconnected) and to replay old entries.
 * - Ingress: `POST /api/publish` appends directly. Plain pub/sub (`redis-cli PUBLISH`, NestJS
 *   `emit`) reaches every instance; ONE of them, the holder of a lease (`<key>:lease`,
 *   renewed every third of `HISTORY_LEASE_MS`), appends what it receives, refused by the
 *   script unless it still holds the lease (fencing). Every instance keeps what it received
 *   until it sees it announced (IngressLedger); one that takes the lease over first reads the
 *   stream to its newest entry, then appends whatever is still pending: a dying holder's last
 *   messages are appended by its successor, once. A message still unannounced HURRY_MS after
 *   its receipt makes an instance tick at once: when its holder stopped (a rolling restart
 *   releases the lease), another takes the lease within that, not at its next tick.
 * - A backend's own `XADD` (no announcement) is noticed by the lease tick, which returns the
 *   stream's newest id to every instance: one that has not delivered up to it by the next tick
 *   reads the gap. So such entries are delivered within about a third of the lease (at once
 *   when the next announced event comes first).
 * - Epoch: a random token in `<key>:epoch`, created when missing. A flushed or restarted
 *   Redis loses it with the stream; the next one differs, so an offset of the old history
 *   is refused (`recovered:false`) instead of being misread. A stream whose newest id goes
 *   back behind what was delivered (it was deleted and written again), or whose ids ran out,
 *   gets a new epoch too: counted, logged once, and delivery goes on.
 * - What is read is checked: ids of any size (offset.ts), entries without a channel or a
 *   payload skipped, announcements the history did not write ignored; none of it stops
 *   delivery or makes a loop spin.
 */
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Deliver, History, HistoryAnomaly, HistoryEntry, HistoryOptions, HistoryStats } from './history.js';
import { HISTORY_SCRIPTS } from './history-scripts.js';
import { IngressLedger, type PendingMessage } from './ingress-ledger.js';
import { compareIds, formatOffset, idMs, parseStreamId, ZERO_ID, type HistoryBounds, type StreamId } from './offset.js';
import { RecentEntries } from './recent-entries.js';
import type { ConnectionOptions, RedisClient } from '../redis/redis-connections.js';

/** How long a start waits for Redis before it goes on without the history (readiness says so). */
const START_WAIT_MS = 2000;
/** Commands answer at once: this long without an answer, the connection is dead. */
const COMMAND_TIMEOUT_MS = 5000;
/** A message received and still not announced this long after makes a non-holder tick at once (the lease may be free). */
const HURRY_MS = 150;
/** Entries per XRANGE: small replies, so that large payloads do not hold the event loop up. */
const PAGE = 100;
/** Payload bytes per append script at most (one message always goes). */
const APPEND_BATCH_BYTES = 1024 * 1024;
/** Announcements waiting behind a gap read, at most; past it they are dropped and the gap read covers them. */
const BACKLOG_MAX_BYTES = 16 * 1024 * 1024;
/** An id this far ahead of the clock is counted as unexpected. */
const FUTURE_MS = 24 * 3600 * 1000;

const randomEpoch = () => randomBytes(4).toString('hex');

type Arg = string | number;
type Scripted = RedisClient & { [K in keyof typeof HISTORY_SCRIPTS]: (...args: Arg[]) => Promise<unknown> };
type RawEntry = [string, string[]];

interface Announced {
  epoch: string;
  prev: StreamId;
  last: StreamId;
  entries: Array<HistoryEntry & { pubsub: boolean }>;
}

/** A feed message as history-scripts.ts writes it, or undefined. */
export function parseAnnouncement(message: string): Announced | undefined {
  const a = message.indexOf(' ');
  const b = message.indexOf(' ', a + 1);
  const c = message.indexOf(' ', b + 1);
  if (a < 1 || b < 0 || c < 0) return undefined;
  const prev = parseStreamId(message.slice(a + 1, b));
  const last = parseStreamId(message.slice(b + 1, c));
  if (!prev || !last) return undefined;
  let list: unknown;
  try {
    list = JSON.parse(message.slice(c + 1));
  } catch {
    return undefined;
  }
  if (!Array.isArray(list) || !list.length) return undefined;
  const entries: Announced['entries'] = [];
  for (const item of list) {
    if (!Array.isArray(item) || item.length !== 4) return undefined;
    const [id, channel, raw, pubsub] = item as unknown[];
    if (!parseStreamId(id) || typeof channel !== 'string' || typeof raw !== 'string') return undefined;
    entries.push({ id: id as string, channel, raw, pubsub: pubsub === 1 });
  }
  return { epoch: message.slice(0, a), prev, last, entries };
}

function toEntry([id, fields]: RawEntry): (HistoryEntry & { pubsub: boolean }) | undefined {
  let channel: string | undefined;
  let raw: string | undefined;
  let pubsub = false;
  for (let i = 0; i + 1 < (fields?.length ?? 0); i += 2) {
    if (fields[i] === 'c') channel = fields[i + 1];
    else if (fields[i] === 'd') raw = fields[i + 1];
    else if (fields[i] === 'p') pubsub = true;
  }
  return channel !== undefined && raw !== undefined ? { id, channel, raw, pubsub } : undefined;
}

export class RedisHistory implements History {
  readonly mode = 'redis';
  readonly feedChannel: string;
  private readonly log = new Logger('History');
  private readonly cmd: Scripted;
  private readonly me = randomBytes(8).toString('hex');
  private readonly ledger: IngressLedger;
  private readonly recent: RecentEntries;
  private epoch?: string;
  /** The epoch was begun when entries were lost (a failover): the stream's newest entry may be behind what was delivered. */
  private lostTail = false;
  /** The last entry handed to `deliver`. */
  private head: StreamId = ZERO_ID;
  private attached = false;
  private attaching?: Promise<void>;
  private leader = false;
  private closed = false;
  private lostCount = 0;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  /** The check of a message unannounced after HURRY_MS, when one is due. */
  private hurried?: NodeJS.Timeout;
  private deliver?: Deliver;
  private onAttached?: () => void;
  /** The stream's newest id at the last tick: not delivered by the next one, it is read. */
  private seenTop?: StreamId;
  /** Announcements that came while a gap was read (or before attaching), in order. */
  private backlog: string[] = [];
  private backlogBytes = 0;
  private catchingUp?: Promise<void>;
  /** Messages received and not yet sent to the append script (the holder's). */
  private readonly batch: PendingMessage[] = [];
  private appending = false;
  /** The epoch an append starts when the stream has none (or ran out of ids): made once, not per append. */
  private spareEpoch = randomEpoch();
  /** Work waiting for the history to catch up with pub/sub (afterIngested), in order. */
  private readonly waiting: Array<{ seq: number; then: () => void }> = [];
  private firstRead?: Promise<StreamId | undefined>;
  private readonly logged = new Set<string>();

  /**
   * `canIngest`: whether this instance receives pub/sub now. One that does not (its
   * subscriber connection is down) must not hold the lease: it would append nothing.
   */
  constructor(
    connect: (options: ConnectionOptions) => RedisClient,
    private readonly opts: HistoryOptions,
    private readonly canIngest: () => boolean = () => true,
    private readonly anomaly: (kind: HistoryAnomaly) => void = () => undefined,
  ) {
    this.feedChannel = `${opts.key}:feed`;
    // Fail fast while Redis is away: the tick retries, nothing piles up in ioredis' queues.
    this.cmd = connect({ name: 'history', maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: COMMAND_TIMEOUT_MS }) as Scripted;
    for (const [name, script] of Object.entries(HISTORY_SCRIPTS)) this.cmd.defineCommand(name, script);
    this.cmd.on('error', () => undefined); // reported by the tick
    this.ledger = new IngressLedger({ windowMs: Math.max(10_000, 3 * opts.leaseMs), max: 10_000 });
    this.recent = new RecentEntries(opts.maxLength, opts.cacheBytes);
  }

  get readable(): boolean {
    return this.attached && this.cmd.status === 'ready';
  }

  get lost(): number {
    return this.lostCount;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  async start(deliver: Deliver): Promise<void> {
    this.deliver = deliver;
    const attached = new Promise<void>((resolve) => (this.onAttached = resolve));
    this.tickNow();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([attached, new Promise((r) => (timer = setTimeout(r, START_WAIT_MS)))]);
    clearTimeout(timer);
  }

  async append(channel: string, raw: string): Promise<void> {
    await this.runAppend('', channel, raw);
  }

  ingest(channel: string, raw: string): void {
    const message = this.ledger.received(channel, raw);
    if (!message) return;
    if (!this.leader) return this.hurry(message.seq);
    message.appended = true;
    this.batch.push(message);
    // Everything received in one read from the socket goes in one script.
    if (this.batch.length === 1 && !this.appending) queueMicrotask(() => void this.appendBatch());
  }

  feed(message: string): void {
    if (this.catchingUp || !this.attached || this.backlog.length) return this.queue(message);
    this.announced(message);
  }

  afterIngested(then: () => void): void {
    const seq = this.ledger.lastSeq;
    if (!this.waiting.length && this.ledger.settled(seq)) return then();
    // Bounded like the ledger: past it, the oldest run now rather than wait.
    if (this.waiting.length >= 10_000) this.runWaiting(true);
    this.waiting.push({ seq, then });
  }

  position(): string | undefined {
    return this.readable && this.epoch && this.head !== ZERO_ID ? formatOffset(this.head, this.epoch) : undefined;
  }

  async bounds(): Promise<HistoryBounds | undefined> {
    if (!this.readable || !this.epoch) return undefined;
    const epoch = this.epoch;
    const head = this.head;
    return { epoch, head, first: await this.first(), oldestMs: Date.now() - this.opts.ttlSeconds * 1000 };
  }

  async range(after: StreamId, upTo: StreamId, count: number): Promise<HistoryEntry[]> {
    const kept = this.recent.range(after, upTo, count);
    if (kept) return kept;
    const raw = (await this.cmd.xrange(this.opts.key, `(${after}`, upTo, 'COUNT', count)) as RawEntry[];
    return raw.map((r) => this.checked(r)).filter((e): e is NonNullable<typeof e> => e !== undefined);
  }

  async stats(): Promise<HistoryStats | undefined> {
    if (this.cmd.status !== 'ready') return undefined;
    const { key } = this.opts;
    try {
      const [length, memory, last] = await Promise.all([
        this.cmd.xlen(key),
        this.cmd.call('MEMORY', 'USAGE', key, 'SAMPLES', '0') as Promise<number | null>,
        this.cmd.xrevrange(key, '+', '-', 'COUNT', 1) as Promise<RawEntry[]>,
      ]);
      const newest = last[0]?.[0];
      const lagSeconds = newest && compareIds(newest, this.head) > 0 ? Math.max(0, idMs(newest) - idMs(this.head)) / 1000 : 0;
      return { length, memoryBytes: Number(memory ?? 0), lagSeconds, leader: this.leader };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.hurried);
    if (this.leader && this.cmd.status === 'ready') {
      // Hands the lease over at once rather than after it lapses.
      this.leader = false;
      await this.cmd.releaseLease(this.leaseKey, this.me).catch(() => undefined);
    }
    if (this.cmd.status === 'ready') await this.cmd.quit().catch(() => this.cmd.disconnect());
    else this.cmd.disconnect();
  }

  private get leaseKey(): string {
    return `${this.opts.key}:lease`;
  }

  private get epochKey(): string {
    return `${this.opts.key}:epoch`;
  }

  private get keptKey(): string {
    return `${this.opts.key}:epoch-kept`;
  }

  private get ttlMs(): number {
    return this.opts.ttlSeconds * 1000;
  }

  /**
   * One announcement, in order: delivered, skipped (already delivered), or behind a gap read.
   * `queued`: it waited behind a gap read, after which the epoch is known: one of another
   * epoch is then stale (a newer epoch is found by the tick, and its entries read).
   */
  private announced(message: string, queued = false): void {
    const a = parseAnnouncement(message);
    if (!a) return this.unexpected('bad_feed', 'a message on the feed channel that the history did not write was ignored');
    if (a.epoch !== this.epoch) {
      if (queued) return;
      // Written under an epoch this instance has not attached to (Redis lost its data): attach again, then read.
      this.attached = false;
      return this.queue(message);
    }
    if (compareIds(a.last, this.head) <= 0) return;
    if (compareIds(a.prev, this.head) > 0) {
      this.queue(message);
      return void this.catchUp();
    }
    for (const e of a.entries) if (compareIds(e.id, this.head) > 0) this.take(e);
  }

  private queue(message: string): void {
    if (this.backlogBytes + message.length > BACKLOG_MAX_BYTES) {
      // Dropped: the next gap read fetches what they held from the stream.
      this.backlog = [];
      this.backlogBytes = 0;
    }
    this.backlog.push(message);
    this.backlogBytes += message.length;
    if (!this.catchingUp && this.attached) void this.catchUp();
  }

  /**
   * Reads the stream from the last delivered entry to its newest (attaching first when
   * needed), then goes through the announcements that came meanwhile (most of them already
   * read). One read at a time.
   */
  private catchUp(): Promise<void> {
    this.catchingUp ??= this.readGap().finally(() => {
      this.catchingUp = undefined;
      this.drainBacklog();
    });
    return this.catchingUp;
  }

  private async readGap(): Promise<void> {
    try {
      if (!this.attached) await this.attach();
      for (;;) {
        const page = (await this.cmd.xrange(this.opts.key, `(${this.head}`, '+', 'COUNT', PAGE)) as RawEntry[];
        for (const raw of page) {
          const entry = this.checked(raw);
          if (entry) this.take(entry);
          else if (parseStreamId(raw?.[0])) this.head = raw[0];
        }
        if (page.length < PAGE) break;
      }
    } catch (err) {
      this.warn('read', `history not readable (${(err as Error).message}); retrying`);
      this.attached = false;
    }
  }

  /** The announcements that waited, in order, until one of them finds a gap again. */
  private drainBacklog(): void {
    if (!this.attached) return; // the tick attaches again, then drains
    const backlog = this.backlog;
    this.backlog = [];
    this.backlogBytes = 0;
    for (let i = 0; i < backlog.length; i++) {
      if (this.catchingUp) {
        this.backlog.unshift(...backlog.slice(i));
        this.backlogBytes = this.backlog.reduce((n, m) => n + m.length, 0);
        return;
      }
      this.announced(backlog[i], true);
    }
  }

  /** An entry as read from the stream, or undefined (counted) when it has no channel or payload. */
  private checked(raw: RawEntry): (HistoryEntry & { pubsub: boolean }) | undefined {
    const entry = parseStreamId(raw?.[0]) ? toEntry(raw) : undefined;
    if (!entry) this.unexpected('bad_entry', 'a history entry without a channel or a payload was skipped');
    return entry;
  }

  private take(entry: HistoryEntry & { pubsub: boolean }): void {
    this.head = entry.id;
    if (entry.pubsub) this.ledger.observed(entry.id, entry.channel, entry.raw);
    const kept = { id: entry.id, channel: entry.channel, raw: entry.raw };
    this.recent.push(kept);
    if (idMs(entry.id) > Date.now() + FUTURE_MS) this.unexpected('future_id', 'a history entry has an id far ahead of the clock (an XADD with an explicit id?); delivered in order');
    this.deliver?.(kept, this.epoch!);
    if (this.waiting.length) this.runWaiting();
  }

  /**
   * Learns the epoch, creating it when missing (a new history: delivered from its start). On
   * every attach after the first, this instance checks that the stream still holds the last
   * entry it delivered: a failover can lose the last writes, and then the offsets it handed out
   * may name entries that are gone, or be followed by other entries under the same numbers. It
   * starts a new epoch that keeps the stream (old offsets answer `recovered:false`, what the
   * stream holds is not delivered again). The first attach starts at the stream's newest
   * entry, with the newest entries read into memory for replays.
   */
  private attach(): Promise<void> {
    this.attaching ??= (async () => {
      try {
        let [epoch, kept] = (await this.cmd.historyEpoch(this.epochKey, this.keptKey, randomEpoch())) as [string, number];
        if (this.epoch === undefined) {
          await this.warm();
        } else {
          const held = this.head === ZERO_ID || (await this.holds(this.head));
          if (epoch === this.epoch && !held) {
            this.unexpected('lost_entries', 'the history lost entries this instance had delivered (a failover?): a new epoch, old offsets are refused');
            epoch = (await this.cmd.historyNewEpoch(this.epochKey, this.keptKey, this.epoch, randomEpoch(), '1')) as string;
            kept = 1;
          }
          if (epoch !== this.epoch) {
            // A new history is delivered from its start; one that keeps the stream, from where this
            // instance stood (what it keeps in memory stays: the same entries, read under the new epoch).
            if (!held && !kept) this.head = ZERO_ID;
            if (!kept) this.recent.clear(this.head === ZERO_ID);
            this.log.warn({ msg: 'history epoch changed: offsets of the previous history are refused from now on', from: this.epoch, to: epoch });
          }
        }
        if (epoch !== this.epoch) {
          this.epoch = epoch;
          this.lostTail = kept === 1;
          this.seenTop = undefined;
        }
        this.attached = true;
        this.logged.delete('read');
        this.onAttached?.();
      } finally {
        this.attaching = undefined;
      }
    })();
    return this.attaching;
  }

  /** Whether the stream still holds the entry `id`. */
  private async holds(id: StreamId): Promise<boolean> {
    return ((await this.cmd.xrange(this.opts.key, id, id)) as RawEntry[]).length > 0;
  }

  /** First attach: the newest entries into memory (what replays will ask for), delivery from the newest on. */
  private async warm(): Promise<void> {
    const newest: RawEntry[] = [];
    let before = '+';
    while (newest.length < this.opts.maxLength) {
      const page = (await this.cmd.xrevrange(this.opts.key, before, '-', 'COUNT', 1000)) as RawEntry[];
      newest.push(...page);
      if (page.length < 1000) break;
      before = `(${page[page.length - 1][0]}`;
    }
    // A stream read whole starts with its first entry: nothing older to ask Redis for.
    this.recent.clear(newest.length < this.opts.maxLength);
    for (let i = newest.length - 1; i >= 0; i--) {
      const entry = toEntry(newest[i]);
      if (entry) this.recent.push({ id: entry.id, channel: entry.channel, raw: entry.raw });
    }
    this.head = newest[0]?.[0] ?? ZERO_ID;
    this.ledger.skipTo(this.head);
  }

  /** The oldest entry the stream holds; resumes asking at the same time share one read (a storm asks once). */
  private first(): Promise<StreamId | undefined> {
    this.firstRead ??= (this.cmd.xrange(this.opts.key, '-', '+', 'COUNT', 1) as Promise<RawEntry[]>)
      .then(([first]) => first?.[0])
      .finally(() => (this.firstRead = undefined));
    return this.firstRead;
  }

  /** A tick now (unless one is under way), then every third of the lease. */
  private tickNow(): void {
    if (this.ticking || this.closed) return;
    clearTimeout(this.timer);
    this.ticking = true;
    void this.tick().finally(() => {
      this.ticking = false;
      if (!this.closed) this.timer = setTimeout(() => this.tickNow(), Math.max(50, Math.floor(this.opts.leaseMs / 3))).unref();
    });
  }

  /** Message `seq` reached a non-holder: if it is still unannounced after HURRY_MS, the holder may be gone. */
  private hurry(seq: number): void {
    if (this.hurried || this.closed) return;
    this.hurried = setTimeout(() => {
      this.hurried = undefined;
      if (!this.leader && !this.ledger.settled(seq)) this.tickNow();
    }, HURRY_MS).unref();
  }

  /** Lease upkeep, pending expiry, an epoch check (FLUSHALL drops no connection) and gap detection. */
  private async tick(): Promise<void> {
    this.lostCount += this.ledger.expire();
    if (this.waiting.length) this.runWaiting(!this.readable);
    if (this.cmd.status !== 'ready') {
      // Attached again once Redis answers: a new connection may be to another (promoted) Redis.
      this.leader = false;
      this.attached = false;
      return;
    }
    try {
      if (!this.attached) await this.catchUp();
      // One that does not receive pub/sub lets the lease go (see the constructor).
      const want = this.canIngest();
      // Announcements may bring entries past what the script sees before its answer comes: compare with the head before it.
      const headBefore = this.head;
      const [epoch, held, top] = (await this.cmd.leaseTick(this.epochKey, this.leaseKey, this.opts.key, this.me, this.opts.leaseMs, want ? '1' : '0')) as [
        string | null,
        number,
        string | null,
      ];
      if (this.attached && epoch !== this.epoch) {
        this.attached = false;
        return void (await this.catchUp());
      }
      await this.checkTop(top ?? undefined, headBefore);
      if (!want) this.leader = false;
      else if (held === 1 && !this.leader && this.attached) await this.takeOver();
      else if (!held) this.leader = false;
    } catch {
      this.leader = false;
      this.attached = false;
    }
  }

  /**
   * The stream's newest id against what was delivered. Behind it: either the stream lost its
   * last entries (a failover: its newest is one this instance delivered) and a new epoch keeps
   * it, or it was replaced under the same epoch (deleted and written again: its ids would never
   * come past this instance's again) and a new epoch starts it over. Ahead of it for a whole
   * tick (entries nobody announced: a plain XADD, an older version of this service appending):
   * a gap read.
   */
  private async checkTop(top: StreamId | undefined, headBefore: StreamId): Promise<void> {
    // An empty stream was deleted (trimming keeps the newest entry): its next entry tells.
    if (!this.attached || top === undefined || !parseStreamId(top)) return;
    if (compareIds(top, headBefore) < 0) {
      if (this.recent.has(top)) {
        if (this.lostTail) return; // known: entries past `top` are new, delivered as they come
        this.unexpected('lost_entries', 'the history lost entries this instance had delivered (a failover?): a new epoch, old offsets are refused');
        await this.cmd.historyNewEpoch(this.epochKey, this.keptKey, this.epoch!, randomEpoch(), '1');
      } else {
        this.unexpected('head_backwards', 'the history stream went back behind what was delivered (deleted and written again?): a new epoch');
        await this.cmd.historyNewEpoch(this.epochKey, this.keptKey, this.epoch!, randomEpoch(), '0');
      }
      this.attached = false;
      return this.catchUp();
    }
    const stale = this.seenTop !== undefined && compareIds(this.seenTop, this.head) > 0;
    this.seenTop = top;
    if (stale) await this.catchUp();
  }

  /**
   * The lease is ours: read the stream to its head (what the previous holder appended is
   * matched in the ledger), then append what is still pending, oldest first. The lease
   * fence guarantees that the previous holder appends nothing more.
   */
  private async takeOver(): Promise<void> {
    for (let after = this.ledger.upTo; ; ) {
      const page = (await this.cmd.xrange(this.opts.key, `(${after}`, '+', 'COUNT', 1000)) as RawEntry[];
      for (const raw of page) {
        const entry = toEntry(raw);
        if (entry?.pubsub) this.ledger.observed(entry.id, entry.channel, entry.raw);
        after = raw[0];
      }
      if (page.length < 1000) break;
    }
    const pending = [...this.ledger.all()];
    pending.forEach((p) => (p.appended = true));
    if (pending.length) this.log.log({ msg: 'lease taken over: appending pending pub/sub messages', count: pending.length });
    this.leader = true;
    this.batch.unshift(...pending.filter((p) => !this.batch.includes(p)));
    await this.appendBatch();
  }

  /** Sends what the holder received, in order, one script at a time; what arrives meanwhile goes in the next. */
  private async appendBatch(): Promise<void> {
    if (this.appending) return;
    this.appending = true;
    try {
      while (this.batch.length && this.leader) {
        let bytes = 0;
        let n = 0;
        while (n < this.batch.length && (n === 0 || bytes + this.batch[n].raw.length <= APPEND_BATCH_BYTES)) bytes += this.batch[n++].raw.length;
        const messages = this.batch.splice(0, n);
        // Refused: the lease went to another instance, which appends what we could not.
        if (!(await this.runAppend(this.me, ...messages.flatMap((m) => [m.channel, m.raw])))) this.leader = false;
      }
    } catch {
      this.leader = false;
    } finally {
      this.appending = false;
      if (!this.leader) this.batch.length = 0;
    }
  }

  /** The append script; false when the lease is not ours any more. */
  private async runAppend(holder: string, ...pairs: string[]): Promise<boolean> {
    const { key, maxLength } = this.opts;
    const publish = this.opts.sharded ? 'SPUBLISH' : 'PUBLISH';
    const spare = this.spareEpoch;
    const result = (await this.cmd.historyAppend(key, this.epochKey, this.leaseKey, this.keptKey, holder, maxLength, this.ttlMs, this.feedChannel, spare, publish, ...pairs)) as
      | [string, string, string, number]
      | null;
    // Used (no epoch, or ids ran out): never offer it again, so that no two epochs share a name.
    if (result?.[0] === spare) this.spareEpoch = randomEpoch();
    if (result?.[3] === 1) this.unexpected('ids_exhausted', 'the history stream ran out of ids (an XADD of the largest id?): a new epoch');
    return result !== null;
  }

  private runWaiting(all = false): void {
    while (this.waiting.length && (all || this.ledger.settled(this.waiting[0].seq))) {
      const { then } = this.waiting.shift()!;
      try {
        then();
      } catch (err) {
        this.log.error(`waiting delivery failed: ${(err as Error)?.stack}`);
      }
    }
  }

  /** Counted every time, logged the first time (per kind). */
  private unexpected(kind: HistoryAnomaly, message: string): void {
    this.anomaly(kind);
    this.warn(kind, message);
  }

  private warn(key: string, message: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.log.warn(message);
  }
}
