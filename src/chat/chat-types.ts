/** Chat rooms and messages as they travel on `/chat` (PROTOCOL.md 4), and parsers for client frames. */
import { SchemaError, isRecord, optString, requireRecord } from '../common/schema.js';

export const ROOM_TYPES = ['GLOBAL', 'WORKSPACE', 'USER', 'NODE', 'ANY'] as const;
export type RoomType = (typeof ROOM_TYPES)[number];

export interface ChatRoom {
  Uuid: string;
  Type: RoomType;
  RoomTypeObject: string;
  RoomLabel?: string;
  /** Logins present in the room (presence, recomputed by the gateway). */
  Users: string[];
  /** Unix seconds, as a string (64-bit ints travel as strings). */
  LastUpdated: string;
}

export interface ChatMessage {
  Uuid: string;
  RoomUuid: string;
  Message: string;
  Author: string;
  /** Unix seconds, as a string. */
  Timestamp: string;
}

/** How a client names a room in JOIN / LEAVE / HISTORY. */
export interface RoomRef {
  Type: RoomType;
  RoomTypeObject: string;
  RoomLabel?: string;
}

export interface HistoryRequest {
  Offset: number;
  Limit: number;
}

/** Room keys end up in Redis keys and frames: keep them bounded. */
export const MAX_ROOM_OBJECT_LENGTH = 1024;
/** Stored with the room and sent in every ROOM_UPDATE. */
export const MAX_ROOM_LABEL_LENGTH = 256;
export const DEFAULT_HISTORY_LIMIT = 40;
export const MAX_HISTORY_LIMIT = 200;

/**
 * Parses the `Room` of a client frame. Type is matched case-insensitively; the protobuf
 * enum numbers (0 = GLOBAL ... 4 = ANY) are accepted too, as protobuf JSON allows them.
 */
export function parseRoomRef(raw: unknown): RoomRef {
  const room = requireRecord(raw, 'Room');
  const Type = parseRoomType(room.Type);
  const RoomTypeObject = optString(room, 'RoomTypeObject', 'Room') ?? '';
  if (RoomTypeObject === '' && Type !== 'GLOBAL') {
    throw new SchemaError(`Room.RoomTypeObject is required for a ${Type} room`);
  }
  if (RoomTypeObject.length > MAX_ROOM_OBJECT_LENGTH) {
    throw new SchemaError(`Room.RoomTypeObject is longer than ${MAX_ROOM_OBJECT_LENGTH} characters`);
  }
  const RoomLabel = optString(room, 'RoomLabel', 'Room');
  if (RoomLabel !== undefined && RoomLabel.length > MAX_ROOM_LABEL_LENGTH) {
    throw new SchemaError(`Room.RoomLabel is longer than ${MAX_ROOM_LABEL_LENGTH} characters`);
  }
  return RoomLabel === undefined ? { Type, RoomTypeObject } : { Type, RoomTypeObject, RoomLabel };
}

export function parseRoomType(value: unknown): RoomType {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < ROOM_TYPES.length) {
    return ROOM_TYPES[value];
  }
  if (typeof value !== 'string') throw new SchemaError('Room.Type must be a string');
  const upper = value.toUpperCase();
  const found = ROOM_TYPES.find((t) => t === upper);
  if (!found) throw new SchemaError(`Room.Type must be one of ${ROOM_TYPES.join(', ')}`);
  return found;
}

/**
 * Parses the text of a HISTORY message: a JSON string such as `{"Offset":0,"Limit":40}`.
 * Missing text or fields take the defaults; Limit is capped at MAX_HISTORY_LIMIT.
 */
export function parseHistoryRequest(messageText: string | undefined): HistoryRequest {
  if (messageText === undefined || messageText.trim() === '') {
    return { Offset: 0, Limit: DEFAULT_HISTORY_LIMIT };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(messageText);
  } catch {
    throw new SchemaError('HISTORY Message must be a JSON object');
  }
  if (!isRecord(parsed)) throw new SchemaError('HISTORY Message must be a JSON object');
  const Offset = optCount(parsed.Offset, 'Offset') ?? 0;
  const Limit = optCount(parsed.Limit, 'Limit') ?? DEFAULT_HISTORY_LIMIT;
  return { Offset, Limit: Math.min(Limit, MAX_HISTORY_LIMIT) };
}

/** A non-negative integer; numeric strings are accepted (64-bit ints travel as strings). */
function optCount(value: unknown, key: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new SchemaError(`HISTORY ${key} must be an integer`);
  if (n < 0) throw new SchemaError(`HISTORY ${key} must not be negative`);
  return n;
}
