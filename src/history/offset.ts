/**
 * Offsets (PROTOCOL 6): a Redis stream id `<ms>-<seq>` plus the epoch of the history it
 * belongs to, written `<ms>-<seq>@<epoch>` on the wire. Only the server compares them.
 *
 * A stream id is kept as the text Redis writes: both parts are unsigned 64-bit numbers, and
 * anybody who may XADD can append an id far beyond what a JavaScript number holds exactly
 * (`9999999999999999-0`, a 17-digit sequence). Every id Redis can hold is read, compared and
 * resumed from exactly; none is mistaken for another or makes the reader stop.
 */

/** `<ms>-<seq>`, each part 0 to 2^64-1 in decimal, no leading zero: exactly as Redis writes it. */
export type StreamId = string;

export interface Offset {
  id: StreamId;
  epoch: string;
}

export const ZERO_ID: StreamId = '0-0';

const STREAM_ID = /^(0|[1-9]\d{0,19})-(0|[1-9]\d{0,19})$/;
const MAX_U64 = '18446744073709551615';
const EPOCH = /^[0-9a-z]{1,32}$/;

const fitsU64 = (digits: string): boolean => digits.length < 20 || digits <= MAX_U64;

/** A stream id as Redis writes it, or undefined. */
export function parseStreamId(text: unknown): StreamId | undefined {
  if (typeof text !== 'string') return undefined;
  const m = STREAM_ID.exec(text);
  return m && fitsU64(m[1]) && fitsU64(m[2]) ? text : undefined;
}

/** Two runs of decimal digits without leading zeros, as numbers of any length. */
function compareDigits(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Negative, zero or positive as `a` is before, equal to or after `b` (both valid ids). */
export function compareIds(a: StreamId, b: StreamId): number {
  if (a === b) return 0;
  const i = a.indexOf('-');
  const j = b.indexOf('-');
  return compareDigits(a.slice(0, i), b.slice(0, j)) || compareDigits(a.slice(i + 1), b.slice(j + 1));
}

/** The time part in ms, approximate past 2^53 (ages and lags only, never to compare ids). */
export function idMs(id: StreamId): number {
  return Number(id.slice(0, id.indexOf('-')));
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
  return `${id}@${epoch}`;
}

/** The id Redis would give the next entry at `now` (`*`), for the embedded history, which numbers its own. */
export function nextId(last: StreamId, now: number): StreamId {
  const ms = idMs(last);
  return now > ms ? `${now}-0` : `${ms}-${Number(last.slice(last.indexOf('-') + 1)) + 1}`;
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
  if (idMs(offset.id) < h.oldestMs) return { reason: 'expired' };
  if (!h.first || compareIds(h.first, offset.id) > 0) return { reason: 'trimmed' };
  return { offset };
}
