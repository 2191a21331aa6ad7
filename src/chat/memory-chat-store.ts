/** ChatStore in process memory: for tests and single-instance runs without Redis (nothing survives a restart). */
import { DEFAULT_CHAT_HISTORY_LIMIT, DEFAULT_CHAT_ROOM_TTL_MS, fitNewest, historyWindow, type ChatStore, type ChatStoreOptions, type HistoryPage } from './chat-store.js';
import type { ChatMessage, ChatRoom, RoomType } from './chat-types.js';

export class MemoryChatStore implements ChatStore {
  private readonly historyLimit: number;
  private readonly roomTtlMs: number;
  private readonly rooms = new Map<string, ChatRoom>();
  /** `Type\nRoomTypeObject` -> room uuid. */
  private readonly roomKeys = new Map<string, string>();
  /** Room uuid -> messages, oldest first. */
  private readonly messages = new Map<string, ChatMessage[]>();
  /** Room uuid -> the last Seq given out in it. */
  private readonly seqs = new Map<string, number>();
  /** Room uuid -> when it expires; kept in touch order, so the first entries expire first. */
  private readonly expiry = new Map<string, number>();

  constructor(
    opts: ChatStoreOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.historyLimit = opts.historyLimit ?? DEFAULT_CHAT_HISTORY_LIMIT;
    this.roomTtlMs = opts.roomTtlMs ?? DEFAULT_CHAT_ROOM_TTL_MS;
  }

  async findRoom(type: RoomType, roomTypeObject: string): Promise<ChatRoom | undefined> {
    const uuid = this.roomKeys.get(roomKey(type, roomTypeObject));
    return uuid === undefined ? undefined : this.getRoom(uuid);
  }

  async getRoom(uuid: string): Promise<ChatRoom | undefined> {
    this.expire();
    const room = this.rooms.get(uuid);
    return room && copyRoom(room);
  }

  async saveRoom(room: ChatRoom): Promise<void> {
    this.rooms.set(room.Uuid, copyRoom(room));
    this.roomKeys.set(roomKey(room.Type, room.RoomTypeObject), room.Uuid);
    this.touch(room.Uuid);
  }

  async createRoom(room: ChatRoom): Promise<ChatRoom> {
    this.expire();
    // No await between the check and the write, so concurrent calls agree on one room.
    const existing = this.rooms.get(this.roomKeys.get(roomKey(room.Type, room.RoomTypeObject)) ?? '');
    if (existing) return copyRoom(existing);
    await this.saveRoom(room);
    return copyRoom(room);
  }

  async touchRoom(uuid: string): Promise<void> {
    if (this.rooms.has(uuid)) this.touch(uuid);
  }

  async addMessage(msg: ChatMessage): Promise<ChatMessage> {
    if (this.rooms.has(msg.RoomUuid)) this.touch(msg.RoomUuid);
    const list = this.messages.get(msg.RoomUuid) ?? [];
    this.messages.set(msg.RoomUuid, list);
    const i = list.findIndex((m) => m.Uuid === msg.Uuid);
    let stored: ChatMessage;
    if (i >= 0) list[i] = stored = { ...msg, Seq: list[i].Seq };
    else {
      const seq = (this.seqs.get(msg.RoomUuid) ?? 0) + 1;
      this.seqs.set(msg.RoomUuid, seq);
      list.push((stored = { ...msg, Seq: seq }));
    }
    if (list.length > this.historyLimit) list.splice(0, list.length - this.historyLimit);
    return { ...stored };
  }

  async listMessages(roomUuid: string, offset: number, limit: number): Promise<ChatMessage[]> {
    const list = this.messages.get(roomUuid) ?? [];
    const [start, end] = historyWindow(list.length, offset, limit);
    return list.slice(start, end).map((m) => ({ ...m }));
  }

  async listPage(roomUuid: string, offset: number, limit: number, maxBytes: number): Promise<HistoryPage> {
    const list = this.messages.get(roomUuid) ?? [];
    const [from, end] = historyWindow(list.length, offset, limit);
    const window = list.slice(from, end);
    const { start, bytes } = fitNewest(window.map((m) => Buffer.byteLength(JSON.stringify(m))), maxBytes);
    return { messages: window.slice(start).map((m) => ({ ...m })), bytes, cut: start > 0 };
  }

  async getMessage(roomUuid: string, uuid: string): Promise<ChatMessage | undefined> {
    const found = this.messages.get(roomUuid)?.find((m) => m.Uuid === uuid);
    return found && { ...found };
  }

  async deleteMessage(roomUuid: string, uuid: string): Promise<boolean> {
    const list = this.messages.get(roomUuid);
    const i = list?.findIndex((m) => m.Uuid === uuid) ?? -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    return true;
  }

  async close(): Promise<void> {}

  private touch(uuid: string): void {
    this.expiry.delete(uuid); // re-inserted last: the order stays the order of expiry
    this.expiry.set(uuid, this.now() + this.roomTtlMs);
  }

  /** Forgets the rooms whose time is up (oldest first: O(expired rooms)). */
  private expire(): void {
    const now = this.now();
    for (const [uuid, at] of this.expiry) {
      if (at > now) return;
      this.expiry.delete(uuid);
      const room = this.rooms.get(uuid);
      const key = room && roomKey(room.Type, room.RoomTypeObject);
      if (key && this.roomKeys.get(key) === uuid) this.roomKeys.delete(key);
      this.rooms.delete(uuid);
      this.messages.delete(uuid);
      this.seqs.delete(uuid);
    }
  }
}

function roomKey(type: RoomType, roomTypeObject: string): string {
  return `${type}\n${roomTypeObject}`;
}

/** Callers get copies, so a gateway overwriting `Users` does not change what is stored. */
function copyRoom(room: ChatRoom): ChatRoom {
  return { ...room, Users: [...room.Users] };
}
