/**
 * The chat topic (PROTOCOL.md 4): the ChatEvent that travels on the bus, and the frame it
 * becomes for the sessions of its room. Pure: no sockets, no Redis.
 */
import { SchemaError, optString, requireRecord, type Json } from '../common/schema.js';
import { parseRoomType, type ChatMessage, type ChatRoom } from './chat-types.js';

/**
 * Cells `chat.ChatEvent`: `{"Message"?, "Room"?, "Details"?}`.
 * A deletion is `{"Message": <the deleted message>, "Details": "DELETE"}`: what the Cells
 * chat service publishes (broker/chat DeleteMessage); `"DELETE_MSG"` (what Switchboard
 * itself publishes) is accepted too. Any other Details is free text and does not change the
 * meaning (Cells sends "PUT" with a Room).
 */
export interface ChatEvent {
  Message?: ChatMessage;
  Room?: ChatRoom;
  Details?: string;
}

export const DELETE_DETAILS = 'DELETE_MSG';
/** The Details values that make a ChatEvent with a Message a deletion. */
const DELETIONS = new Set([DELETE_DETAILS, 'DELETE']);

export function isDeletion(e: ChatEvent): boolean {
  return e.Details !== undefined && DELETIONS.has(e.Details);
}

/** Throws SchemaError unless the payload is a ChatEvent with a Message or a Room. */
export function parseChatEvent(raw: unknown): ChatEvent {
  const e = requireRecord(raw, 'ChatEvent');
  const event: ChatEvent = {};
  if (e.Message !== undefined && e.Message !== null) event.Message = parseMessage(requireRecord(e.Message, 'Message'));
  if (e.Room !== undefined && e.Room !== null) event.Room = parseRoom(requireRecord(e.Room, 'Room'));
  const details = optString(e, 'Details', 'ChatEvent');
  if (details !== undefined) event.Details = details;
  if (!event.Message && !event.Room) throw new SchemaError('ChatEvent needs a Message or a Room');
  if (event.Details === DELETE_DETAILS && !event.Message) throw new SchemaError('a DELETE_MSG ChatEvent needs the Message');
  return event;
}

/**
 * The one frame the event becomes, and the room whose sessions receive it. As in Cells, the
 * Message wins when both are present: a deletion, else the bare message; a Room alone is a
 * ROOM_UPDATE.
 */
export function chatFrame(e: ChatEvent): { roomUuid: string; frame: object } {
  if (e.Message) {
    const frame = isDeletion(e) ? { '@type': DELETE_DETAILS, Message: e.Message } : e.Message;
    return { roomUuid: e.Message.RoomUuid, frame };
  }
  return { roomUuid: e.Room!.Uuid, frame: { '@type': 'ROOM_UPDATE', Room: e.Room } };
}

function parseMessage(m: Json): ChatMessage {
  return {
    Uuid: requiredString(m, 'Uuid', 'Message'),
    RoomUuid: requiredString(m, 'RoomUuid', 'Message'),
    Message: optString(m, 'Message', 'Message') ?? '',
    Author: optString(m, 'Author', 'Message') ?? '',
    Timestamp: optString(m, 'Timestamp', 'Message') ?? '0',
  };
}

function parseRoom(r: Json): ChatRoom {
  const users = r.Users ?? [];
  if (!Array.isArray(users) || !users.every((u) => typeof u === 'string')) {
    throw new SchemaError('Room.Users must be an array of strings');
  }
  const room: ChatRoom = {
    Uuid: requiredString(r, 'Uuid', 'Room'),
    // Protobuf JSON omits an enum at its default value, and GLOBAL is 0.
    Type: parseRoomType(r.Type ?? 'GLOBAL'),
    RoomTypeObject: optString(r, 'RoomTypeObject', 'Room') ?? '',
    Users: users,
    LastUpdated: optString(r, 'LastUpdated', 'Room') ?? '0',
  };
  const label = optString(r, 'RoomLabel', 'Room');
  if (label !== undefined) room.RoomLabel = label;
  return room;
}

function requiredString(obj: Json, key: string, what: string): string {
  const v = optString(obj, key, what);
  if (!v) throw new SchemaError(`${what}.${key} is required`);
  return v;
}
