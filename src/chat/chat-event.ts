/**
 * The chat topic (PROTOCOL.md 4): the ChatEvent that travels on the bus, and the frame it
 * becomes for the sessions of its room. Pure: no sockets, no Redis.
 */
import { parseWith } from '../common/schema.js';
import { ChatEvent, DELETE_DETAILS } from '../protocol/events.js';

/**
 * Cells `chat.ChatEvent`: `{"Message"?, "Room"?, "Details"?}` (schema in src/protocol/events.ts).
 * A deletion is `{"Message": <the deleted message>, "Details": "DELETE"}`: what the Cells
 * chat service publishes (broker/chat DeleteMessage); `"DELETE_MSG"` (what Switchboard
 * itself publishes) is accepted too. Any other Details is free text and does not change the
 * meaning (Cells sends "PUT" with a Room).
 */
export type { ChatEvent } from '../protocol/events.js';
export { DELETE_DETAILS };

/** The Details values that make a ChatEvent with a Message a deletion. */
const DELETIONS = new Set([DELETE_DETAILS, 'DELETE']);

export function isDeletion(e: ChatEvent): boolean {
  return e.Details !== undefined && DELETIONS.has(e.Details);
}

/** Message and Room errors are named from the field (`Message.Uuid is required`, `Room.Users`, not `Room.Users.0`), the rest from `ChatEvent`. */
function chatEventLabel(path: readonly PropertyKey[]): string {
  const fields = path.filter((key) => typeof key === 'string');
  return (fields[0] === 'Message' || fields[0] === 'Room' ? fields : ['ChatEvent', ...fields]).join('.');
}

/** Throws SchemaError unless the payload is a ChatEvent with a Message or a Room. */
export function parseChatEvent(raw: unknown): ChatEvent {
  return parseWith(ChatEvent, raw, chatEventLabel);
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
