/**
 * Offsets (PROTOCOL 6): a Redis stream id `<ms>-<seq>` plus the epoch of the history it
 * belongs to, written `<ms>-<seq>@<epoch>` on the wire. Only the server compares them.
 */

export interface StreamId {
  ms: number;
  seq: number;
}

export interface Offset {
  id: StreamId;
  epoch: string;
}

export const ZERO_ID: StreamId = { ms: 0, seq: 0 };

const STREAM_ID = /^(\d{1,15})-(\d{1,15})$/;
const EPOCH = /^[0-9a-z]{1,32}$/;

/** A stream id as Redis writes it, or undefined. */
export function parseStreamId(text: unknown): StreamId | undefined {
  if (typeof text !== 'string') return undefined;
  const m = STREAM_ID.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]);
  const seq = Number(m[2]);
  return Number.isSafeInteger(ms) && Number.isSafeInteger(seq) ? { ms, seq } : undefined;
}

export function formatStreamId(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

/** A client's `resumeFrom`, or undefined when it is not an offset at all. */
export function parseOffset(text: unknown): Offset | undefined {
  if (typeof text !== 'string' || text.length > 80) return undefined;
  const at = text.indexOf('@');
  if (at < 0) return undefined;
  const id = parseStreamId(text.slice(0, at));
  const epoch = text.slice(at + 1);
  return id && EPOCH.test(epoch) ? { id, epoch } : undefined;
}

export function formatOffset(id: StreamId, epoch: string): string {
  return `${formatStreamId(id)}@${epoch}`;
}

/** Negative, zero or positive as `a` is before, equal to or after `b`. */
export function compareIds(a: StreamId, b: StreamId): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.seq - b.seq;
}

/** The id Redis would give the next entry at `now` (`*`): time-based, always increasing. */
export function nextId(last: StreamId, now: number): StreamId {
  return now > last.ms ? { ms: now, seq: 0 } : { ms: last.ms, seq: last.seq + 1 };
}

/** Why a resume cannot be served, or undefined when the history still holds everything after the offset. */
export type Unrecoverable = 'not_an_offset' | 'other_epoch' | 'future' | 'expired' | 'trimmed';

export interface HistoryBounds {
  epoch: string;
  /** The last entry this instance has delivered live: the replay ends there. */
  head: StreamId;
  /** The oldest entry still held, undefined when the history is empty. */
  first?: StreamId;
  /** Entries older than this (ms) count as gone, whether trimmed yet or not. */
  oldestMs: number;
}

/**
 * Trimming only ever removes the oldest entries, so when the history still holds an entry
 * at or before the offset, it holds every entry after it. An offset at the head itself is
 * always good: nothing happened since.
 */
export function unrecoverable(resumeFrom: unknown, h: HistoryBounds): { offset: Offset } | { reason: Unrecoverable } {
  const offset = parseOffset(resumeFrom);
  if (!offset) return { reason: 'not_an_offset' };
  if (offset.epoch !== h.epoch) return { reason: 'other_epoch' };
  const vsHead = compareIds(offset.id, h.head);
  if (vsHead > 0) return { reason: 'future' };
  if (vsHead === 0) return { offset };
  if (offset.id.ms < h.oldestMs) return { reason: 'expired' };
  if (!h.first || compareIds(h.first, offset.id) > 0) return { reason: 'trimmed' };
  return { offset };
}
