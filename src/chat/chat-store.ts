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

/** A HISTORY page: `messages` oldest first, and whether the byte bound left older ones of the window out. */
export interface HistoryPage {
  messages: ChatMessage[];
  /** The bytes of the messages as stored (their JSON, UTF-8). */
  bytes: number;
  cut: boolean;
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
  /**
   * The same window, but only its newest messages whose stored JSON fits in `maxBytes` (the
   * newest always, whatever its size): what a HISTORY answer may send (PROTOCOL 4). The read
   * itself stays within the bound. `cut`: older messages of the window were left out.
   */
  abstract listPage(roomUuid: string, offset: number, limit: number, maxBytes: number): Promise<HistoryPage>;
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

/**
 * Of a window's message sizes (oldest first), the newest whose sizes add up to at most
 * `maxBytes`, the newest one always: where the page starts, and its bytes. (RedisChatStore's
 * LIST_PAGE does the same in Lua.)
 */
export function fitNewest(sizes: readonly number[], maxBytes: number): { start: number; bytes: number } {
  let start = sizes.length;
  let bytes = 0;
  while (start > 0 && (start === sizes.length || bytes + sizes[start - 1] <= maxBytes)) bytes += sizes[--start];
  return { start, bytes };
}
