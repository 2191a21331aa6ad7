/**
 * The event history (PROTOCOL 6): one ordered, numbered record of every event that reaches
 * `/ws` sessions, shared by every instance, from which every instance delivers and from
 * which a reconnecting client is replayed. Two implementations: `RedisHistory` (a Redis
 * stream shared by every instance; see redis-history.ts for the design) and `MemoryHistory`
 * (embedded mode: one instance, in memory). The HistoryModule provides the one in use under
 * the `HISTORY` token; nothing else makes one.
 */
import type { HistoryBounds, StreamId } from './offset.js';

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
  /** Bytes of payload kept in memory for replays (the newest entries); 0: read every replay from Redis. */
  cacheBytes: number;
  /** Announce with SPUBLISH (a Redis Cluster: the feed channel is a shard channel of the stream's slot). */
  sharded?: boolean;
}

export interface HistoryStats {
  length: number;
  memoryBytes: number;
  /** How far this instance's delivery is behind the newest entry, in seconds of stream time. */
  lagSeconds: number;
  leader: boolean;
}

/** What the history met that it did not expect; counted, and logged once per kind. */
export type HistoryAnomaly =
  /** A stream entry without a channel or a payload: skipped. */
  | 'bad_entry'
  /** A message on the feed channel that the history did not write: ignored. */
  | 'bad_feed'
  /** An id far ahead of the clock (an XADD with an explicit id): delivered, in order. */
  | 'future_id'
  /** The stream's newest id went back behind this instance's (the stream was replaced): a new epoch. */
  | 'head_backwards'
  /** The stream's ids ran out (an XADD of the largest id): a new epoch. */
  | 'ids_exhausted'
  /** The stream no longer holds what this instance delivered (a failover lost the last writes): a new epoch keeping the stream. */
  | 'lost_entries';

/** Receives every entry, in stream order, with the epoch it belongs to. Must not throw. */
export type Deliver = (entry: HistoryEntry, epoch: string) => void;

export interface History {
  readonly mode: 'redis' | 'memory';
  /** True while this instance can read the history (readiness). */
  readonly readable: boolean;
  /** Pub/sub messages lost because no instance appended them within the window (all time). */
  readonly lost: number;
  /**
   * The pub/sub channel on which the history announces what it appends (Redis mode): the
   * bus subscribes to it and hands its messages to `feed`.
   */
  readonly feedChannel?: string;
  /**
   * Starts delivering. Settles once the history is attached (events appended from then on are
   * delivered), or after a short wait when Redis does not answer (it attaches later).
   */
  start(deliver: Deliver): Promise<void>;
  /** Appends directly (publish API, embedded bus). Rejects when the history is unreachable. */
  append(channel: string, raw: string): Promise<void>;
  /** A pub/sub message on a history channel (Redis mode), already checked. */
  ingest(channel: string, raw: string): void;
  /** A message on `feedChannel`. */
  feed(message: string): void;
  /**
   * Runs `then` once every history message received so far on pub/sub has been delivered
   * from the history (or given up): a message of another path (chat) received after them
   * is handled after them, as it was when everything came over pub/sub.
   */
  afterIngested(then: () => void): void;
  /** Where the history stands, for a resume; undefined while unreadable. */
  bounds(): Promise<HistoryBounds | undefined>;
  /**
   * The offset of the last entry this instance delivered live, read at once: a session indexed
   * now gets every later entry it may see live, so it can resume from here before its first
   * event. Undefined while unreadable or before the first entry.
   */
  position(): string | undefined;
  /**
   * Entries after `after` up to `upTo` included, oldest first, at most `count`. The newest
   * entries come from memory, as the same objects every time (whoever caches work per entry
   * can key it by the object); older ones from Redis.
   */
  range(after: StreamId, upTo: StreamId, count: number): Promise<HistoryEntry[]>;
  stats(): Promise<HistoryStats | undefined>;
  close(): Promise<void>;
}

export const HISTORY = Symbol('HISTORY');
