/** Chat rooms and messages as they travel on `/chat` (PROTOCOL.md 4), and parsers for client frames. */
import { SchemaError, parseWith } from '../common/schema.js';
import { ROOM_TYPES, RoomType, type ChatMessage, type ChatRoom } from '../protocol/events.js';
import { DEFAULT_HISTORY_LIMIT, HistoryRequest, MAX_HISTORY_LIMIT, MAX_ROOM_LABEL_LENGTH, MAX_ROOM_OBJECT_LENGTH, RoomRef } from '../protocol/frames.js';

export { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, MAX_ROOM_LABEL_LENGTH, MAX_ROOM_OBJECT_LENGTH, ROOM_TYPES };
/** Rooms and messages as frames carry them; RoomRef: how a client names a room in JOIN / LEAVE / HISTORY. */
export type { ChatMessage, ChatRoom, HistoryRequest, RoomRef, RoomType };

export function parseRoomType(value: unknown): RoomType {
  return parseWith(RoomType, value, 'Room.Type');
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
  return parseWith(HistoryRequest, parsed, (path) => `HISTORY ${path.length ? path.join('.') : 'Message'}`);
}
