/**
 * The event history (PROTOCOL 6): one ordered, numbered record of every event that reaches
 * `/ws` sessions, shared by every instance, from which every instance delivers and from
 * which a reconnecting client is replayed.
 *
 * Design, in short:
 * - Redis mode: a Redis Stream (`HISTORY_KEY`), capped by length (`MAXLEN ~`) and age
 *   (`MINID ~`). An entry is `c <channel> d <payload as published>` (plus `p 1` when it was
 *   appended from pub/sub, for the ledger below); its stream id is its
 *   offset, the same on every instance. Every instance reads the stream on a connection of
 *   its own (`XREAD BLOCK`) and hands each entry to the TopicDispatcher: all instances deliver
 *   the same events in the same order.
 * - Ingress: `POST /api/publish` appends directly (one XADD, no window); backends may do the
 *   same. Plain pub/sub (`redis-cli PUBLISH`, NestJS `emit`) reaches every instance; ONE of
 *   them, the holder of a lease in Redis (`<key>:lease`, renewed every third of
 *   `HISTORY_LEASE_MS`), appends what it receives with a Lua script that refuses the append
 *   unless it still holds the lease (fencing). Every instance keeps what it received and has
 *   not yet seen in the stream (IngressLedger). An instance that takes the lease over first
 *   reads the stream to its head, then appends whatever is still pending: a dying holder's
 *   last messages are appended by its successor, once. A message that does not fit its
 *   channel's schema is counted where it is received and never appended. Chat (not in the
 *   history) is handled after the history events received before it (`afterIngested`).
 * - Epoch: a random token in `<key>:epoch`, created when missing. A flushed or restarted
 *   Redis loses it with the stream; the next one differs, so an offset of the old history
 *   is refused (`recovered:false`) instead of being misread.
 * - Embedded mode (no REDIS_URL): the same history as an array in memory, same bounds; its
 *   epoch is drawn at start (a restart loses the history).
 */
import { Logger } from '@nestjs/common';
import type { Redis, RedisOptions } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { IngressLedger, type PendingMessage } from './ingress-ledger.js';
import { compareIds, formatStreamId, nextId, parseStreamId, ZERO_ID, type HistoryBounds, type StreamId } from './offset.js';

export interface HistoryEntry {
  id: StreamId;
  channel: string;
  raw: string;
}

export interface HistoryOptions {
  key: string;
  maxLength: number;
  ttlSeconds: number;
  leaseMs: number;
}

export interface HistoryStats {
  length: number;
  memoryBytes: number;
  /** How far this instance's delivery is behind the newest entry, in seconds of stream time. */
  lagSeconds: number;
  leader: boolean;
}

/** Receives every entry, in stream order, with the epoch it belongs to. Must not throw. */
export type Deliver = (entry: HistoryEntry, epoch: string) => void;

export interface History {
  readonly mode: 'redis' | 'memory';
  /** True while this instance can read the history (readiness). */
  readonly readable: boolean;
  /** Pub/sub messages lost because no instance appended them within the window (all time). */
  readonly lost: number;
  /**
   * Starts reading. Settles once the history is read (events appended from then on are
   * delivered), or after a short wait when Redis does not answer (reading starts later).
   */
  start(deliver: Deliver): Promise<void>;
  /** Appends directly (publish API, embedded bus). Rejects when the history is unreachable. */
  append(channel: string, raw: string): Promise<void>;
  /** A pub/sub message on a history channel (Redis mode). */
  ingest(channel: string, raw: string): void;
  /**
   * Runs `then` once every history message received so far on pub/sub has been delivered
   * from the history (or given up): a message of another path (chat) received after them
   * is handled after them, as it was when everything came over pub/sub.
   */
  afterIngested(then: () => void): void;
  /** Where the history stands, for a resume; undefined while unreadable. */
  bounds(): Promise<HistoryBounds | undefined>;
  /** Entries after `after` up to `upTo` included, oldest first, at most `count`. */
  range(after: StreamId, upTo: StreamId, count: number): Promise<HistoryEntry[]>;
  stats(): Promise<HistoryStats | undefined>;
  close(): Promise<void>;
}

/** How long a start waits for Redis before it goes on without the history (readiness says so). */
const START_WAIT_MS = 2000;
/** Entries per XREAD: small replies, so that large payloads do not hold the event loop (and the pub/sub socket) up. */
const READ_COUNT = 20;
/**
 * How long one XREAD waits for new entries. An idle instance wakes up once per BLOCK to
 * read nothing: what bounds it is the reader's commandTimeout (BLOCK + 4 s), the time to
 * notice a connection that died without a word (half-open). Nothing else waits for it:
 * the first read after (re)attaching does not block (readiness), an epoch change seen by
 * the tick drops what the pending read brings (it is read again), close() disconnects.
 */
const BLOCK_MS = 5000;
/** Commands other than the blocking read answer at once: this long without an answer, the connection is dead. */
const COMMAND_TIMEOUT_MS = 5000;
const randomEpoch = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** In memory, for the embedded mode: one instance, same bounds, same numbering. */
export class MemoryHistory implements History {
  readonly mode = 'memory';
  readonly readable = true;
  readonly lost = 0;
  private readonly epoch = randomEpoch();
  private readonly entries: Array<HistoryEntry & { bytes: number }> = [];
  private last: StreamId = ZERO_ID;
  private head: StreamId = ZERO_ID;
  private deliver?: Deliver;

  constructor(private readonly opts: HistoryOptions) {}

  start(deliver: Deliver): Promise<void> {
    this.deliver = deliver;
    return Promise.resolve();
  }

  append(channel: string, raw: string): Promise<void> {
    const entry = { id: (this.last = nextId(this.last, Date.now())), channel, raw, bytes: 2 * (channel.length + raw.length) + 64 };
    this.entries.push(entry);
    this.trim();
    // On a later tick, as it would be coming back from Redis.
    setImmediate(() => {
      this.head = entry.id;
      this.deliver?.(entry, this.epoch);
    });
    return Promise.resolve();
  }

  ingest(channel: string, raw: string): void {
    void this.append(channel, raw);
  }

  afterIngested(then: () => void): void {
    // Appends are delivered on the next ticks, in order: so is this.
    setImmediate(then);
  }

  bounds(): Promise<HistoryBounds> {
    this.trim();
    return Promise.resolve({ epoch: this.epoch, head: this.head, first: this.entries[0]?.id, oldestMs: Date.now() - this.opts.ttlSeconds * 1000 });
  }

  range(after: StreamId, upTo: StreamId, count: number): Promise<HistoryEntry[]> {
    const out: HistoryEntry[] = [];
    for (const e of this.entries) {
      if (out.length >= count || compareIds(e.id, upTo) > 0) break;
      if (compareIds(e.id, after) > 0) out.push(e);
    }
    return Promise.resolve(out);
  }

  stats(): Promise<HistoryStats> {
    const memoryBytes = this.entries.reduce((n, e) => n + e.bytes, 0);
    return Promise.resolve({ length: this.entries.length, memoryBytes, lagSeconds: Math.max(0, this.last.ms - this.head.ms) / 1000, leader: true });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private trim(): void {
    const oldest = Date.now() - this.opts.ttlSeconds * 1000;
    let drop = Math.max(0, this.entries.length - this.opts.maxLength);
    while (drop < this.entries.length && this.entries[drop].id.ms < oldest) drop++;
    if (drop) this.entries.splice(0, drop);
  }
}

/** Trims entries older than ARGV[n] ms by Redis' own clock, the one that numbers them. */
const TRIM_BY_AGE = (n: number) => `
local now = redis.call('TIME')
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f-0', now[1] * 1000 + math.floor(now[2] / 1000) - tonumber(ARGV[${n}])))`;

/** Appends pub/sub messages only while this instance holds the lease (KEYS: stream, lease). */
const APPEND_IF_LEASED = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return false end
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'c', ARGV[i], 'd', ARGV[i + 1], 'p', '1')
end
${TRIM_BY_AGE(3)}
return 1`;

/** A direct append (KEYS: stream). */
const APPEND = `
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'c', ARGV[3], 'd', ARGV[4])
${TRIM_BY_AGE(2)}
return 1`;

/**
 * The lease upkeep in one round trip (KEYS: epoch, lease; ARGV: me, lease ms, want). `want`
 * '1': take the lease when free, or keep it when ours; '0': let it go when ours. Returns the
 * epoch (false when missing) and 1 when the lease is ours.
 */
const LEASE_TICK = `
local holder = redis.call('GET', KEYS[2])
local held = 0
if ARGV[3] == '1' then
  if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) held = 1
  elseif not holder then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) held = 1 end
elseif holder == ARGV[1] then redis.call('DEL', KEYS[2]) end
return {redis.call('GET', KEYS[1]), held}`;

/** Lets the lease go when ours (KEYS: lease). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end`;

/** The epoch, created when missing (KEYS: epoch). */
const EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`;

/**
 * The scripts, as commands of the connection (ioredis' defineCommand): each is sent once
 * per connection (EVAL), then by its SHA1 (EVALSHA, EVAL again after a NOSCRIPT): Redis
 * neither receives nor hashes the script text on every append.
 */
const SCRIPTS = {
  appendIfLeased: { numberOfKeys: 2, lua: APPEND_IF_LEASED },
  appendDirect: { numberOfKeys: 1, lua: APPEND },
  leaseTick: { numberOfKeys: 2, lua: LEASE_TICK },
  releaseLease: { numberOfKeys: 1, lua: RELEASE },
  historyEpoch: { numberOfKeys: 1, lua: EPOCH },
} as const;
type Arg = string | number;
type Scripted = Redis & { [K in keyof typeof SCRIPTS]: (...args: Arg[]) => Promise<unknown> };

type RawEntry = [string, string[]];

function toEntry([id, fields]: RawEntry, parsed = parseStreamId(id)): (HistoryEntry & { pubsub: boolean }) | undefined {
  if (!parsed) return undefined;
  let channel: string | undefined;
  let raw: string | undefined;
  let pubsub = false;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'c') channel = fields[i + 1];
    else if (fields[i] === 'd') raw = fields[i + 1];
    else if (fields[i] === 'p') pubsub = true;
  }
  return channel !== undefined && raw !== undefined ? { id: parsed, channel, raw, pubsub } : undefined;
}

export class RedisHistory implements History {
  readonly mode = 'redis';
  private readonly log = new Logger('History');
  /** Commands; never blocked. */
  private readonly cmd: Scripted;
  /** XREAD BLOCK only. */
  private readonly reader: Redis;
  private readonly me = randomBytes(8).toString('hex');
  private readonly ledger: IngressLedger;
  private epoch?: string;
  /** The last entry handed to `deliver`. */
  private head: StreamId = ZERO_ID;
  private attached = false;
  private reading = false;
  private leader = false;
  private closed = false;
  private lostCount = 0;
  private timer?: NodeJS.Timeout;
  private deliver?: Deliver;
  private warned = false;
  private onAttached?: () => void;
  /** Messages received in this tick, appended together at its end. */
  private readonly batch: PendingMessage[] = [];
  /** Work waiting for the history to catch up with pub/sub (afterIngested), in order. */
  private readonly waiting: Array<{ seq: number; then: () => void }> = [];

  /**
   * `canIngest`: whether this instance receives pub/sub now. One that does not (its
   * subscriber connection is down) must not hold the lease: it would append nothing.
   */
  constructor(
    connect: (options: RedisOptions) => Redis,
    private readonly opts: HistoryOptions,
    private readonly canIngest: () => boolean = () => true,
  ) {
    // Fail fast while Redis is away: the loops retry, nothing piles up in ioredis' queues. An
    // interrupted XREAD BLOCK must fail rather than be re-sent on reconnect (it would then
    // never settle: ioredis#1285), and one lost in a half-open connection must time out.
    const options = {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: () => 500,
    };
    this.cmd = connect(options) as Scripted;
    for (const [name, script] of Object.entries(SCRIPTS)) this.cmd.defineCommand(name, script);
    this.reader = connect({ ...options, commandTimeout: BLOCK_MS + 4000 });
    for (const client of [this.cmd, this.reader]) client.on('error', () => undefined); // logged by the loops
    this.ledger = new IngressLedger({ windowMs: Math.max(10_000, 3 * opts.leaseMs), max: 10_000 });
  }

  get readable(): boolean {
    return this.attached && this.reading && this.reader.status === 'ready';
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
    void this.readLoop();
    const tick = () => {
      void this.tick().finally(() => {
        if (!this.closed) this.timer = setTimeout(tick, Math.max(50, Math.floor(this.opts.leaseMs / 3))).unref();
      });
    };
    tick();
    await Promise.race([attached, new Promise((r) => setTimeout(r, START_WAIT_MS).unref())]);
  }

  async append(channel: string, raw: string): Promise<void> {
    const { key, maxLength } = this.opts;
    await this.cmd.appendDirect(key, maxLength, this.ttlMs, channel, raw);
  }

  ingest(channel: string, raw: string): void {
    const message = this.ledger.received(channel, raw);
    if (!message || !this.leader) return;
    message.appended = true;
    // One append per tick for everything received in it: a flood costs fewer round trips.
    this.batch.push(message);
    if (this.batch.length === 1) setImmediate(() => void this.appendLeased(this.batch.splice(0)));
  }

  afterIngested(then: () => void): void {
    const seq = this.ledger.lastSeq;
    if (!this.waiting.length && this.ledger.settled(seq)) return then();
    // Bounded like the ledger: past it, the oldest run now rather than wait.
    if (this.waiting.length >= 10_000) this.runWaiting(true);
    this.waiting.push({ seq, then });
  }

  /** Runs what waited for messages now delivered (or all of it: `all`). */
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

  async bounds(): Promise<HistoryBounds | undefined> {
    if (!this.readable || !this.epoch) return undefined;
    const [first] = (await this.cmd.xrange(this.opts.key, '-', '+', 'COUNT', 1)) as RawEntry[];
    return { epoch: this.epoch, head: this.head, first: first && parseStreamId(first[0]), oldestMs: Date.now() - this.opts.ttlSeconds * 1000 };
  }

  async range(after: StreamId, upTo: StreamId, count: number): Promise<HistoryEntry[]> {
    const raw = (await this.cmd.xrange(this.opts.key, `(${formatStreamId(after)}`, formatStreamId(upTo), 'COUNT', count)) as RawEntry[];
    return raw.map((r) => toEntry(r)).filter((e): e is NonNullable<typeof e> => e !== undefined);
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
      const newest = last[0] && parseStreamId(last[0][0]);
      const lagSeconds = newest && compareIds(newest, this.head) > 0 ? Math.max(0, newest.ms - this.head.ms) / 1000 : 0;
      return { length, memoryBytes: Number(memory ?? 0), lagSeconds, leader: this.leader };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.release();
    this.reader.disconnect();
    if (this.cmd.status === 'ready') await this.cmd.quit().catch(() => this.cmd.disconnect());
    else this.cmd.disconnect();
  }

  /** Hands the lease over at once rather than after it lapses. */
  private async release(): Promise<void> {
    if (!this.leader || this.cmd.status !== 'ready') return;
    this.leader = false;
    await this.cmd.releaseLease(this.leaseKey, this.me).catch(() => undefined);
  }

  private get leaseKey(): string {
    return `${this.opts.key}:lease`;
  }

  private get ttlMs(): number {
    return this.opts.ttlSeconds * 1000;
  }

  private async readLoop(): Promise<void> {
    while (!this.closed) {
      try {
        if (this.reader.status !== 'ready' || this.cmd.status !== 'ready') {
          this.reading = false;
          await sleep(100);
          continue;
        }
        if (!this.attached) await this.attach();
        const [key, from] = [this.opts.key, formatStreamId(this.head)];
        // Not blocking until a read has answered: readiness does not wait for a BLOCK.
        const res = (await (this.reading
          ? this.reader.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', key, from)
          : this.reader.xread('COUNT', READ_COUNT, 'STREAMS', key, from))) as [string, RawEntry[]][] | null;
        this.reading = true;
        this.warned = false;
        // The tick saw another epoch while this read waited: what it brought belongs to the
        // new history, read again once attached to it (else it would go out with the old epoch).
        if (!this.attached) continue;
        for (const raw of res?.[0]?.[1] ?? []) this.take(raw);
      } catch (err) {
        this.reading = false;
        // A new connection may be to a new Redis: look at the epoch again.
        this.attached = false;
        if (!this.warned && !this.closed) this.log.warn(`history not readable (${(err as Error).message}); retrying`);
        this.warned = true;
        await sleep(100);
      }
    }
  }

  private take(raw: RawEntry): void {
    const id = parseStreamId(raw[0]);
    if (id) this.head = id;
    const entry = toEntry(raw, id);
    if (!entry) return;
    if (entry.pubsub) this.ledger.observed(entry.id, entry.channel, entry.raw);
    this.deliver?.(entry, this.epoch!);
    if (this.waiting.length) this.runWaiting();
  }

  /**
   * Learns the epoch, creating it when missing. A new epoch means a new history: deliver it
   * from its start, unless the stream still holds where this instance stood (only the
   * epoch key was lost).
   */
  private async attach(): Promise<void> {
    const { key } = this.opts;
    const epoch = (await this.cmd.historyEpoch(`${key}:epoch`, randomEpoch())) as string;
    if (epoch !== this.epoch) {
      if (this.epoch === undefined) {
        // First start: deliver from now on.
        const [last] = (await this.cmd.xrevrange(key, '+', '-', 'COUNT', 1)) as RawEntry[];
        this.head = (last && parseStreamId(last[0])) ?? ZERO_ID;
        this.ledger.skipTo(this.head);
      } else {
        const [still] = (await this.cmd.xrange(key, formatStreamId(this.head), formatStreamId(this.head))) as RawEntry[];
        if (!still) this.head = ZERO_ID;
        this.log.warn({ msg: 'history epoch changed: offsets of the previous history are refused from now on', from: this.epoch, to: epoch });
      }
      this.epoch = epoch;
    }
    this.attached = true;
    this.onAttached?.();
  }

  /** Lease upkeep, pending expiry, and an epoch check (FLUSHALL drops no connection). */
  private async tick(): Promise<void> {
    this.lostCount += this.ledger.expire();
    if (this.waiting.length) this.runWaiting(!this.readable);
    if (this.cmd.status !== 'ready') {
      this.leader = false;
      return;
    }
    try {
      // One that does not receive pub/sub lets the lease go (see the constructor).
      const want = this.canIngest();
      const [epoch, held] = (await this.cmd.leaseTick(`${this.opts.key}:epoch`, this.leaseKey, this.me, this.opts.leaseMs, want ? '1' : '0')) as [string | null, number];
      if (this.attached && epoch !== this.epoch) this.attached = false;
      if (!want) this.leader = false;
      else if (held === 1 && !this.leader && this.attached) await this.takeOver();
      else if (!held) this.leader = false;
    } catch {
      this.leader = false;
    }
  }

  /**
   * The lease is ours: read the stream to its head (what the previous holder appended is
   * matched in the ledger), then append what is still pending, oldest first. The lease
   * fence guarantees that the previous holder appends nothing more.
   */
  private async takeOver(): Promise<void> {
    for (let after = this.ledger.upTo; ; ) {
      const batch = (await this.cmd.xrange(this.opts.key, `(${formatStreamId(after)}`, '+', 'COUNT', 1000)) as RawEntry[];
      for (const raw of batch) {
        const entry = toEntry(raw);
        if (entry?.pubsub) this.ledger.observed(entry.id, entry.channel, entry.raw);
        after = parseStreamId(raw[0]) ?? after;
      }
      if (batch.length < 1000) break;
    }
    const pending = [...this.ledger.all()];
    pending.forEach((p) => (p.appended = true));
    if (pending.length) this.log.log({ msg: 'lease taken over: appending pending pub/sub messages', count: pending.length });
    if (!(await this.appendLeased(pending))) return;
    this.leader = true;
    // Arrived while taking over: appended after the older ones.
    const rest = this.ledger.all().filter((p) => !p.appended);
    rest.forEach((p) => (p.appended = true));
    if (rest.length) void this.appendLeased(rest);
  }

  private async appendLeased(messages: readonly { channel: string; raw: string }[]): Promise<boolean> {
    if (!messages.length) return true;
    const { key, maxLength } = this.opts;
    const args = messages.flatMap((m) => [m.channel, m.raw]);
    try {
      const ok = (await this.cmd.appendIfLeased(key, this.leaseKey, this.me, maxLength, this.ttlMs, ...args)) === 1;
      // Refused: the lease went to another instance, which appends what we could not.
      if (!ok) this.leader = false;
      return ok;
    } catch {
      this.leader = false;
      return false;
    }
  }
}
