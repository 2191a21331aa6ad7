import { Connection, type ConnectionOptions, type Status } from './connection.js';
import { Listeners } from './listeners.js';
import type { ChatMessage, ChatRoom, DeleteMessageFrame, ErrorFrame, MayHaveMoreFrame, RoomRef, RoomUpdateFrame } from './protocol.js';

export const HEARTBEAT_MS = 15_000;
const MAX_PENDING_POSTS = 50;

/** What a UI renders of a room: replaced (never mutated) on every change. */
export interface ChatRoomSnapshot {
  uuid?: string;
  /** Oldest first, one per Uuid (history pages and live posts merged), deleted ones removed. */
  messages: readonly ChatMessage[];
  users: readonly string[];
  mayHaveMore: boolean;
  error?: string;
}

type RoomEvents = {
  change: [ChatRoomSnapshot];
  message: [ChatMessage];
  delete: [DeleteMessageFrame['Message']];
  presence: [string[]];
  more: [boolean];
  error: [string];
};

/** A refusal names the room as the client did for JOIN and HISTORY, by Uuid alone for POST: no key then. */
const keyOf = (ref: Partial<Pick<RoomRef, 'Type' | 'RoomTypeObject'>>) => `${ref.Type}:${ref.RoomTypeObject}`;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One joined chat room. Hand it back with `leave()` (reference-counted: the last leave sends LEAVE). */
export class ChatRoomHandle {
  /** Known once the server's first ROOM_UPDATE has arrived. */
  uuid?: string;
  users: string[] = [];
  /** The last history page was full: `loadMore()` may bring older messages. */
  mayHaveMore = false;
  private nextOffset = 0;
  private pendingPosts: string[] = [];
  private readonly listeners = new Listeners<RoomEvents>();
  /** @internal */ refs = 0;
  /** The room as a UI shows it; see `on('change')`. */
  snapshot: ChatRoomSnapshot = { messages: [], users: [], mayHaveMore: false };
  private readonly known = new Map<string, ChatMessage>();

  constructor(
    readonly ref: RoomRef,
    private readonly chat: ChatClient,
  ) {}

  on<K extends keyof RoomEvents>(kind: K, fn: (...args: RoomEvents[K]) => void): () => void {
    return this.listeners.on(kind, fn);
  }

  post(text: string): void {
    if (!this.uuid || !this.chat.send({ '@type': 'POST', Message: { RoomUuid: this.uuid, Message: text } })) {
      // Not joined yet (or reconnecting): sent once the room is back, in order; bounded.
      if (this.pendingPosts.length < MAX_PENDING_POSTS) this.pendingPosts.push(text);
    }
  }

  /** Deletes one of the user's own messages (the server refuses others'). */
  delete(messageUuid: string): void {
    if (this.uuid) this.chat.send({ '@type': 'DELETE_MSG', Message: { Uuid: messageUuid, RoomUuid: this.uuid } });
  }

  /** The newest `limit` messages (offset 0) or older ones; answered through `message` and `more`. */
  history(offset = 0, limit = this.chat.pageSize): void {
    this.mayHaveMore = false;
    this.nextOffset = offset;
    this.changed();
    this.chat.send({ '@type': 'HISTORY', Room: this.ref, Message: { Message: JSON.stringify({ Offset: offset, Limit: limit }) } });
  }

  /** The page before the oldest one loaded (after a full page: see `mayHaveMore`). */
  loadMore(limit = this.chat.pageSize): void {
    this.history(this.nextOffset, limit);
  }

  leave(): void {
    this.chat.release(this);
  }

  private changed(patch: Partial<ChatRoomSnapshot> = {}): void {
    this.snapshot = { ...this.snapshot, uuid: this.uuid, users: this.users, mayHaveMore: this.mayHaveMore, ...patch };
    this.listeners.emit('change', this.snapshot);
  }

  private messagesChanged(): void {
    const all = [...this.known.values()].sort((a, b) => Number(a.Timestamp) - Number(b.Timestamp));
    // Bounded: the oldest go first.
    for (const old of all.splice(0, Math.max(0, all.length - this.chat.maxMessages))) this.known.delete(old.Uuid);
    this.changed({ messages: all });
  }

  /** @internal */ roomUpdate(room: ChatRoom): void {
    const first = !this.uuid;
    this.uuid = room.Uuid;
    this.users = Array.isArray(room.Users) ? room.Users : [];
    this.listeners.emit('presence', this.users);
    this.changed();
    if (first || this.pendingPosts.length) {
      const posts = this.pendingPosts;
      this.pendingPosts = [];
      posts.forEach((text) => this.post(text));
    }
  }
  /** @internal */ message(m: ChatMessage): void {
    this.listeners.emit('message', m);
    if (this.known.has(m.Uuid)) return;
    this.known.set(m.Uuid, m);
    this.messagesChanged();
  }
  /** @internal */ deleted(m: DeleteMessageFrame['Message']): void {
    this.listeners.emit('delete', m);
    if (this.known.delete(m.Uuid)) this.messagesChanged();
  }
  /** @internal */ more(frame: MayHaveMoreFrame): void {
    this.mayHaveMore = true;
    this.nextOffset = frame.Offset;
    this.listeners.emit('more', true);
    this.changed();
  }
  /** @internal */ error(reason: string): void {
    this.listeners.emit('error', reason);
    this.changed({ error: reason });
  }
}

/**
 * Chat on `/chat` (PROTOCOL 4). The socket opens with the first room; after every (re)connect
 * it JOINs every room again and asks for the newest page of history (messages are identified by
 * `Uuid`: keep them in a map to drop the ones already shown). One heartbeat timer PINGs every
 * room each 15 s while the session is live.
 */
export class ChatClient {
  readonly pageSize: number;
  /** Messages kept per room for `snapshot`. */
  readonly maxMessages = 500;
  private readonly connection: Connection;
  private readonly rooms = new Map<string, ChatRoomHandle>();
  private readonly byUuid = new Map<string, ChatRoomHandle>();
  private readonly listeners = new Listeners<{ status: [Status]; error: [string] }>();
  private heartbeat?: ReturnType<typeof setInterval>;
  private started = false;

  constructor(
    options: ConnectionOptions,
    private readonly heartbeatMs = HEARTBEAT_MS,
    pageSize = 40,
  ) {
    this.pageSize = pageSize;
    this.connection = new Connection(options, {
      subscribed: (_ack, first) => {
        if (!first) return; // a renewal: the rooms are still joined
        for (const room of this.rooms.values()) this.joinOnServer(room);
        this.startHeartbeat();
      },
      frame: (frame) => this.frame(frame),
      disconnected: () => this.stopHeartbeat(),
      status: (status) => this.listeners.emit('status', status),
    });
  }

  get status(): Status {
    return this.connection.status;
  }

  on<K extends 'status' | 'error'>(kind: K, fn: (arg: K extends 'status' ? Status : string) => void): () => void {
    return this.listeners.on(kind, fn as never);
  }

  /** Joins (or takes another reference to) a room; the socket opens on the first. */
  join(ref: RoomRef): ChatRoomHandle {
    let room = this.rooms.get(keyOf(ref));
    if (!room) {
      room = new ChatRoomHandle(ref, this);
      this.rooms.set(keyOf(ref), room);
      if (this.connection.live) this.joinOnServer(room);
    }
    room.refs++;
    if (!this.started) {
      this.started = true;
      this.connection.start();
    }
    return room;
  }

  /** @internal Drops one reference; LEAVE goes out a tick later if none came back (StrictMode re-mounts). */
  release(room: ChatRoomHandle): void {
    if (room.refs === 0) return;
    room.refs--;
    queueMicrotask(() => {
      if (room.refs > 0 || this.rooms.get(keyOf(room.ref)) !== room) return;
      this.rooms.delete(keyOf(room.ref));
      if (room.uuid) this.byUuid.delete(room.uuid);
      this.send({ '@type': 'LEAVE', Room: room.ref });
    });
  }

  /** @internal */ send(frame: unknown): boolean {
    return this.connection.send(frame);
  }

  /** Drops the socket as a network failure would (tests, a "reconnect" button). */
  drop(): void {
    this.connection.drop();
  }

  close(): void {
    this.stopHeartbeat();
    if (this.started) this.connection.stop();
    this.started = false;
  }

  private joinOnServer(room: ChatRoomHandle): void {
    this.send({ '@type': 'JOIN', Room: room.ref });
    room.history(0);
  }

  private startHeartbeat(): void {
    this.stopHeartbeat(); // one timer, never two
    this.heartbeat = setInterval(() => {
      for (const room of this.rooms.values()) this.send({ '@type': 'JOIN', Room: room.ref, Message: { Message: 'PING' } });
    }, this.heartbeatMs);
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private frame(frame: unknown): void {
    if (!isObject(frame)) return;
    switch (frame['@type']) {
      case 'ROOM_UPDATE': {
        const { Room } = frame as unknown as RoomUpdateFrame;
        const room = isObject(Room) ? this.rooms.get(keyOf(Room)) : undefined;
        if (!room) return;
        this.byUuid.set(Room.Uuid, room);
        return room.roomUpdate(Room);
      }
      case 'MAY_HAVE_MORE': {
        const more = frame as unknown as MayHaveMoreFrame;
        return this.byUuid.get(more.RoomUuid)?.more(more);
      }
      case 'DELETE_MSG': {
        const { Message } = frame as unknown as DeleteMessageFrame;
        if (isObject(Message) && typeof Message.RoomUuid === 'string') this.byUuid.get(Message.RoomUuid)?.deleted(Message);
        return;
      }
      case 'error': {
        const { error, Room } = frame as unknown as ErrorFrame;
        const room = isObject(Room) ? this.rooms.get(keyOf(Room)) : undefined;
        return room ? room.error(error) : this.listeners.emit('error', error);
      }
      case undefined:
        if (typeof frame.RoomUuid === 'string' && typeof frame.Uuid === 'string') this.byUuid.get(frame.RoomUuid)?.message(frame as unknown as ChatMessage);
    }
  }
}
