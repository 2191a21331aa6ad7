/** Where chat rooms and their message history live (PROTOCOL.md 4). */
import type { ChatMessage, ChatRoom, RoomType } from './chat-types.js';

export const DEFAULT_CHAT_HISTORY_LIMIT = 1000;

export const DEFAULT_CHAT_ROOM_TTL_MS = 7 * 86_400_000;

export interface ChatStoreOptions {
  /** Messages kept per room; the oldest are dropped first. */
  historyLimit?: number;
  /**
   * A room not touched (created, joined, posted to, or held by a member: see touchRoom) for
   * this long is forgotten with its history.
   */
  roomTtlMs?: number;
}

/** An abstract class rather than an interface: it is also the chat module's injection token. */
export abstract class ChatStore {
  /** The room for (Type, RoomTypeObject), if one was saved. */
  abstract findRoom(type: RoomType, roomTypeObject: string): Promise<ChatRoom | undefined>;
  abstract getRoom(uuid: string): Promise<ChatRoom | undefined>;
  /** Creates or replaces the room, and points (Type, RoomTypeObject) at it. */
  abstract saveRoom(room: ChatRoom): Promise<void>;
  /**
   * Saves `room` unless a room already exists for its (Type, RoomTypeObject), atomically,
   * and returns the room that won: two instances creating the same room end up sharing one.
   */
  abstract createRoom(room: ChatRoom): Promise<ChatRoom>;
  /**
   * Appends a message (or replaces one with the same Uuid, keeping its Seq) and drops the oldest
   * beyond the cap; touches the room. Returns the message as stored: with its `Seq`, the room's
   * next sequence number (1, 2, 3...: increasing per room, atomically with the append).
   */
  abstract addMessage(msg: ChatMessage): Promise<ChatMessage>;
  /** The room is in use: its expiry starts again (no-op for a room that is gone). */
  abstract touchRoom(uuid: string): Promise<void>;
  /**
   * Up to `limit` messages, oldest first, ending `offset` messages before the newest:
   * offset 0, limit 2 = the two newest messages.
   */
  abstract listMessages(roomUuid: string, offset: number, limit: number): Promise<ChatMessage[]>;
  abstract getMessage(roomUuid: string, uuid: string): Promise<ChatMessage | undefined>;
  /** True when the message existed. */
  abstract deleteMessage(roomUuid: string, uuid: string): Promise<boolean>;
  abstract close(): Promise<void>;
}

/** The [start, end) slice of a history of `length` messages (oldest at 0) that listMessages returns. */
export function historyWindow(length: number, offset: number, limit: number): [number, number] {
  const end = Math.max(0, length - Math.max(0, offset));
  const start = Math.max(0, end - Math.max(0, limit));
  return [start, end];
}
