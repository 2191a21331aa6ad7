/** ChatStore in process memory: for tests and single-instance runs without Redis (nothing survives a restart). */
import { DEFAULT_CHAT_HISTORY_LIMIT, historyWindow, type ChatStore, type ChatStoreOptions } from './chat-store.js';
import type { ChatMessage, ChatRoom, RoomType } from './chat-types.js';

export class MemoryChatStore implements ChatStore {
  private readonly historyLimit: number;
  private readonly rooms = new Map<string, ChatRoom>();
  /** `Type\nRoomTypeObject` -> room uuid. */
  private readonly roomKeys = new Map<string, string>();
  /** Room uuid -> messages, oldest first. */
  private readonly messages = new Map<string, ChatMessage[]>();

  constructor(opts: ChatStoreOptions = {}) {
    this.historyLimit = opts.historyLimit ?? DEFAULT_CHAT_HISTORY_LIMIT;
  }

  async findRoom(type: RoomType, roomTypeObject: string): Promise<ChatRoom | undefined> {
    const uuid = this.roomKeys.get(roomKey(type, roomTypeObject));
    return uuid === undefined ? undefined : this.getRoom(uuid);
  }

  async getRoom(uuid: string): Promise<ChatRoom | undefined> {
    const room = this.rooms.get(uuid);
    return room && copyRoom(room);
  }

  async saveRoom(room: ChatRoom): Promise<void> {
    this.rooms.set(room.Uuid, copyRoom(room));
    this.roomKeys.set(roomKey(room.Type, room.RoomTypeObject), room.Uuid);
  }

  async createRoom(room: ChatRoom): Promise<ChatRoom> {
    // No await between the check and the write, so concurrent calls agree on one room.
    const existing = this.rooms.get(this.roomKeys.get(roomKey(room.Type, room.RoomTypeObject)) ?? '');
    if (existing) return copyRoom(existing);
    this.rooms.set(room.Uuid, copyRoom(room));
    this.roomKeys.set(roomKey(room.Type, room.RoomTypeObject), room.Uuid);
    return copyRoom(room);
  }

  async addMessage(msg: ChatMessage): Promise<void> {
    const list = this.messages.get(msg.RoomUuid) ?? [];
    this.messages.set(msg.RoomUuid, list);
    const i = list.findIndex((m) => m.Uuid === msg.Uuid);
    if (i >= 0) list[i] = { ...msg };
    else list.push({ ...msg });
    if (list.length > this.historyLimit) list.splice(0, list.length - this.historyLimit);
  }

  async listMessages(roomUuid: string, offset: number, limit: number): Promise<ChatMessage[]> {
    const list = this.messages.get(roomUuid) ?? [];
    const [start, end] = historyWindow(list.length, offset, limit);
    return list.slice(start, end).map((m) => ({ ...m }));
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
}

function roomKey(type: RoomType, roomTypeObject: string): string {
  return `${type}\n${roomTypeObject}`;
}

/** Callers get copies, so a gateway overwriting `Users` does not change what is stored. */
function copyRoom(room: ChatRoom): ChatRoom {
  return { ...room, Users: [...room.Users] };
}
