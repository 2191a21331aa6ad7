import { Connection, type ConnectionHooks, type ConnectionOptions, type Link, type Status } from './connection.js';
import { Listeners } from './listeners.js';
import type { ChatAckFrame, ChatMessage, ChatRoom, DeleteMessageFrame, ErrorCode, ErrorFrame, MayHaveMoreFrame, RoomRef, RoomUpdateFrame } from './protocol.js';

export const HEARTBEAT_MS = 15_000;
const MAX_PENDING_POSTS = 50;

/**
 * Why a post was refused: the server's code, or one of the client's own:
 * `connection_lost` (the socket dropped before the server answered: it may or may not be stored),
 * `queue_full` (more than 50 posts waiting for the room), `left` (the room was left first).
 */
export type PostCode = ErrorCode | 'connection_lost' | 'queue_full' | 'left';

/** One post of this client: `pending` until the server answers, then `sent` or `refused`. */
export interface OutgoingPost {
  /** The client id sent with the POST (ext PROTOCOL 4.3). */
  readonly id: string;
  readonly text: string;
  readonly state: 'pending' | 'sent' | 'refused';
  /** Once sent: the stored message's Uuid. */
  readonly uuid?: string;
  readonly code?: PostCode;
  /** Once refused: the reason, for people. */
  readonly error?: string;
}

/** A refusal that concerns the room (a JOIN, a HISTORY, a DELETE_MSG, a re-check). */
export interface RoomError {
  code: ErrorCode;
  error: string;
}

/** What a UI renders of a room: replaced (never mutated) on every change. */
export interface ChatRoomSnapshot {
  uuid?: string;
  /** In the room's order (the server's `Seq`; Timestamp for a backend's messages), one per Uuid, deleted ones removed. */
  messages: readonly ChatMessage[];
  /** This client's posts not yet in `messages`: pending, sent (on its way), refused (kept until dismissed). */
  posts: readonly OutgoingPost[];
  users: readonly string[];
  mayHaveMore: boolean;
  /** The last refusal about the room itself. */
  error?: RoomError;
}

type RoomEvents = {
  change: [ChatRoomSnapshot];
  message: [ChatMessage];
  delete: [DeleteMessageFrame['Message']];
  presence: [string[]];
  more: [boolean];
  error: [RoomError];
  post: [OutgoingPost];
};

/** A refusal names the room as the client did for JOIN and HISTORY, by Uuid alone for POST: no key then. */
const keyOf = (ref: Partial<Pick<RoomRef, 'Type' | 'RoomTypeObject'>>) => `${ref.Type}:${ref.RoomTypeObject}`;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Room order: the server's sequence when both have one, else the 1-second Timestamp (then arrival). */
export function compareMessages(a: ChatMessage, b: ChatMessage): number {
  if (a.Seq !== undefined && b.Seq !== undefined) return a.Seq - b.Seq;
  return Number(a.Timestamp) - Number(b.Timestamp);
}

let lastId = 0;
const newId = () => `p${Date.now().toString(36)}${(++lastId).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** One joined chat room. Hand it back with `leave()` (reference-counted: the last leave sends LEAVE). */
export class ChatRoomHandle {
  /** Known once the server's first ROOM_UPDATE has arrived. */
  uuid?: string;
  users: string[] = [];
  /** The last history page was full: `loadMore()` may bring older messages. */
  mayHaveMore = false;
  private nextOffset = 0;
  private readonly posts = new Map<string, OutgoingPost & { written?: boolean }>();
  private readonly listeners = new Listeners<RoomEvents>();
  /** @internal */ refs = 0;
  /** The room as a UI shows it; see `on('change')`. */
  snapshot: ChatRoomSnapshot = { messages: [], posts: [], users: [], mayHaveMore: false };
  private readonly known = new Map<string, ChatMessage>();

  constructor(
    readonly ref: RoomRef,
    private readonly chat: ChatClient,
  ) {}

  on<K extends keyof RoomEvents>(kind: K, fn: (...args: RoomEvents[K]) => void): () => void {
    return this.listeners.on(kind, fn);
  }

  /**
   * Posts a message; returns its client id. Its state is in `snapshot.posts` (and `on('post')`):
   * `pending` (also while offline: sent once the room is joined again, in order), then `sent` or
   * `refused` with the server's code.
   */
  post(text: string): string {
    const id = newId();
    const pending = [...this.posts.values()].filter((p) => p.state === 'pending').length;
    if (pending >= MAX_PENDING_POSTS) {
      this.setPost({ id, text, state: 'refused', code: 'queue_full', error: `more than ${MAX_PENDING_POSTS} posts waiting` });
      return id;
    }
    this.setPost({ id, text, state: 'pending' });
    this.flush();
    return id;
  }

  /** Posts a refused message again (a new post with the same text); returns the new id. */
  retry(id: string): string | undefined {
    const post = this.posts.get(id);
    if (!post || post.state !== 'refused') return undefined;
    this.dismiss(id);
    return this.post(post.text);
  }

  /** Forgets a refused post (the UI showed it). */
  dismiss(id: string): void {
    if (this.posts.get(id)?.state === 'refused' && this.posts.delete(id)) this.changed();
  }

  /** Deletes one of the user's own messages (the server refuses others': see `snapshot.error`). */
  delete(messageUuid: string): void {
    if (this.uuid) this.chat.send({ '@type': 'DELETE_MSG', id: newId(), Message: { Uuid: messageUuid, RoomUuid: this.uuid } });
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

  private setPost(post: OutgoingPost & { written?: boolean }): void {
    this.posts.set(post.id, post);
    this.chat.track(post.id, post.state === 'pending' ? this : undefined);
    this.listeners.emit('post', post);
    this.changed();
  }

  /** Sends the pending posts not written yet, in order, while the room is joined and the socket live. */
  private flush(): void {
    for (const post of this.posts.values()) {
      if (post.state !== 'pending' || post.written) continue;
      if (!this.uuid || !this.chat.send({ '@type': 'POST', id: post.id, Message: { RoomUuid: this.uuid, Message: post.text } })) return;
      post.written = true;
    }
  }

  private changed(patch: Partial<ChatRoomSnapshot> = {}): void {
    const posts = [...this.posts.values()].map(({ written: _w, ...post }) => post);
    this.snapshot = { ...this.snapshot, uuid: this.uuid, users: this.users, mayHaveMore: this.mayHaveMore, posts, ...patch };
    this.listeners.emit('change', this.snapshot);
  }

  private messagesChanged(): void {
    const all = [...this.known.values()].sort(compareMessages);
    // Bounded: the oldest go first.
    for (const old of all.splice(0, Math.max(0, all.length - this.chat.maxMessages))) this.known.delete(old.Uuid);
    this.changed({ messages: all });
  }

  /** @internal */ roomUpdate(room: ChatRoom): void {
    this.uuid = room.Uuid;
    this.users = Array.isArray(room.Users) ? room.Users : [];
    this.listeners.emit('presence', this.users);
    this.changed();
    this.flush();
  }
  /** @internal */ message(m: ChatMessage): void {
    this.listeners.emit('message', m);
    if (this.known.has(m.Uuid)) return;
    this.known.set(m.Uuid, m);
    // A sent post is shown as the message from now on.
    for (const post of this.posts.values()) if (post.state === 'sent' && post.uuid === m.Uuid) this.posts.delete(post.id);
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
  /** @internal */ acked(ack: ChatAckFrame): void {
    const post = this.posts.get(ack.id);
    if (!post || post.state !== 'pending') return;
    if (this.known.has(ack.Uuid)) {
      this.posts.delete(ack.id); // the message came first
      this.chat.track(ack.id, undefined);
      this.listeners.emit('post', { ...post, state: 'sent', uuid: ack.Uuid });
      return this.changed();
    }
    this.setPost({ id: post.id, text: post.text, state: 'sent', uuid: ack.Uuid });
  }
  /** @internal A refusal of one of this room's posts. */
  refused(id: string, frame: ErrorFrame): void {
    const post = this.posts.get(id);
    if (post?.state === 'pending') this.setPost({ id, text: post.text, state: 'refused', code: frame.code, error: frame.error });
  }
  /** @internal The socket dropped: posts written but not answered may or may not be stored. */
  disconnected(): void {
    for (const post of [...this.posts.values()]) {
      if (post.state === 'pending' && post.written) {
        this.setPost({ id: post.id, text: post.text, state: 'refused', code: 'connection_lost', error: 'the connection dropped before the server answered: it may have been posted' });
      }
    }
  }
  /** @internal */ left(): void {
    for (const post of [...this.posts.values()]) if (post.state === 'pending') this.setPost({ id: post.id, text: post.text, state: 'refused', code: 'left', error: 'the room was left' });
  }
  /** @internal */ error(error: RoomError): void {
    this.listeners.emit('error', error);
    this.changed({ error });
  }
}

/**
 * Chat on `/chat` (PROTOCOL 4). The socket opens with the first room; after every (re)connect
 * it JOINs every room again and asks for the newest page of history (messages are identified by
 * `Uuid`: keep them in a map to drop the ones already shown). One heartbeat timer PINGs every
 * room each 15 s while the session is live. Posts carry a client id: each gets an ack or a refusal.
 */
export class ChatClient {
  readonly pageSize: number;
  /** Messages kept per room for `snapshot`. */
  readonly maxMessages = 500;
  private readonly connection: Link;
  private readonly rooms = new Map<string, ChatRoomHandle>();
  private readonly byUuid = new Map<string, ChatRoomHandle>();
  /** Post id -> its room, while the server has not answered. */
  private readonly pendingPosts = new Map<string, ChatRoomHandle>();
  private readonly listeners = new Listeners<{ status: [Status]; error: [ErrorFrame] }>();
  private heartbeat?: ReturnType<typeof setInterval>;
  private started = false;

  constructor(
    options: ConnectionOptions,
    private readonly heartbeatMs = HEARTBEAT_MS,
    pageSize = 40,
    /** With `share`: the tab's share of the group's `/chat` socket instead of a socket of its own. */
    link: (hooks: ConnectionHooks) => Link = (hooks) => new Connection(options, hooks),
  ) {
    this.pageSize = pageSize;
    this.connection = link({
      subscribed: (_ack, first) => {
        if (!first) return; // a renewal: the rooms are still joined
        for (const room of this.rooms.values()) this.joinOnServer(room);
        this.startHeartbeat();
      },
      frame: (frame) => this.frame(frame),
      disconnected: () => {
        this.stopHeartbeat();
        for (const room of this.rooms.values()) room.disconnected();
      },
      status: (status) => this.listeners.emit('status', status),
    });
  }

  get status(): Status {
    return this.connection.status;
  }

  /** True once a room was joined (until `close()`): the socket counts in the client's status. */
  get inUse(): boolean {
    return this.started;
  }

  on<K extends 'status' | 'error'>(kind: K, fn: (arg: K extends 'status' ? Status : ErrorFrame) => void): () => void {
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
      room.left();
      this.send({ '@type': 'LEAVE', Room: room.ref });
    });
  }

  /** @internal */ send(frame: unknown): boolean {
    return this.connection.send(frame);
  }

  /** @internal Remembers which room waits for the answer to a post (undefined: none any more). */
  track(id: string, room: ChatRoomHandle | undefined): void {
    if (room) this.pendingPosts.set(id, room);
    else this.pendingPosts.delete(id);
  }

  /** Drops the socket as a network failure would (tests). */
  drop(): void {
    this.connection.drop();
  }

  /** "Retry now" when in use and waiting. */
  retryNow(): void {
    if (this.started) this.connection.retryNow();
  }
  /** @internal */ offline(): void {
    this.connection.offline();
  }
  /** @internal */ online(): void {
    this.connection.online();
  }
  /** @internal */ visible(): void {
    this.connection.visible();
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
      case 'ack': {
        const ack = frame as unknown as ChatAckFrame;
        const room = typeof ack.id === 'string' ? this.pendingPosts.get(ack.id) : undefined;
        return room?.acked(ack);
      }
      case 'error': {
        const error = frame as unknown as ErrorFrame;
        const post = typeof error.id === 'string' ? this.pendingPosts.get(error.id) : undefined;
        if (post) return post.refused(error.id!, error);
        const Room = error.Room;
        const room = isObject(Room) ? (Room.Uuid ? this.byUuid.get(Room.Uuid) : undefined) ?? this.rooms.get(keyOf(Room)) : undefined;
        return room ? room.error({ code: error.code, error: error.error }) : this.listeners.emit('error', error);
      }
      case undefined:
        if (typeof frame.RoomUuid === 'string' && typeof frame.Uuid === 'string') this.byUuid.get(frame.RoomUuid)?.message(frame as unknown as ChatMessage);
    }
  }
}
