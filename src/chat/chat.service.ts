/**
 * Chat on `/chat` (PROTOCOL.md 4): rooms, messages, presence, and the chat topic.
 *
 * Every change (post, deletion, room update) is published on the chat channel and reaches
 * the sessions through the chat route, never directly: members on every instance, this one
 * included, receive it exactly once, the same way as a ChatEvent published by a backend.
 * Answers to one session (errors, HISTORY) are replied to it directly.
 *
 * Presence: `Presence` tracks this instance's sessions; the PresenceBoard (Redis with
 * REDIS_URL) merges every instance's users, and the merged list travels in the ROOM_UPDATE.
 *
 * Limits per user (posts, joins, rooms created) are counted in Redis with REDIS_URL, so they
 * hold across sessions and instances. Memberships are re-checked at every identity change
 * (SessionRegistry listener): re-subscribe, unsubscribe, workspace deletion.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Identity } from '../auth/identity.js';
import { Bus } from '../bus/bus.js';
import { Topic, type TopicHandler } from '../bus/topic.js';
import { isRecord, optString, requireRecord, type Json } from '../common/schema.js';
import { TokenBucket } from '../common/token-bucket.js';
import { MemoryWindowLimiter, RedisWindowLimiter, type WindowLimiter } from '../common/window-limiter.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../ops/metrics.js';
import { Fanout } from '../sessions/fanout.js';
import type { Session } from '../sessions/session.js';
import type { IdentityChange } from '../sessions/session-registry.js';
import { RedisConnections } from '../redis/redis-connections.js';
import { ChatSessions } from '../sessions/endpoints.js';
import { DELETE_DETAILS, chatFrame, parseChatEvent, type ChatEvent } from './chat-event.js';
import type { ChatStore } from './chat-store.js';
import { parseHistoryRequest, parseRoomRef, type ChatMessage, type ChatRoom, type RoomRef } from './chat-types.js';
import { MemoryChatStore } from './memory-chat-store.js';
import { NodeAccessClient } from './node-access.js';
import { LocalPresenceBoard, RedisPresenceBoard, type PresenceBoard } from './presence-board.js';
import { Presence } from './presence.js';
import { RedisChatStore } from './redis-chat-store.js';
import { roomAccess, type RoomAccess } from './room-access.js';
import { sanitizeMessage } from './sanitize.js';

/** What chat keeps per session, beside the Session. */
interface ChatState {
  /** Raw JWT of the last successful subscribe, for the NODE authorization endpoint. Never logged. */
  jwt?: string;
  /** Rooms this session joined read-only. */
  readOnly: Set<string>;
  /** POSTs per second (CHAT_MESSAGE_RATE). */
  posts: TokenBucket;
  /** Joined rooms -> how they were named, so that a re-check needs no store read. */
  refs: Map<string, Pick<ChatRoom, 'Type' | 'RoomTypeObject'>>;
}

@Topic({ channel: 'chat' })
@Injectable()
export class ChatService implements TopicHandler<ChatEvent>, OnModuleDestroy, OnApplicationShutdown {
  readonly topic = 'chat';
  private readonly log = new Logger(ChatService.name);
  private readonly store: ChatStore;
  private readonly board: PresenceBoard;
  private readonly presence = new Presence();
  private readonly nodeAccess: NodeAccessClient;
  private readonly states = new WeakMap<Session, ChatState>();
  /** Rooms with sessions here -> the users last delivered to them (undefined: none yet). The sweep compares. */
  private readonly shown = new Map<string, string | undefined>();
  /** Rooms with sessions here -> when the sweep last touched them in the store (keeps them from expiring). */
  private readonly touched = new Map<string, number>();
  private readonly limiter: WindowLimiter;
  private readonly sweeper: NodeJS.Timeout;
  private sweeping = false;
  private stopping = false;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly bus: Bus,
    private readonly fanout: Fanout,
    private readonly metrics: Metrics,
    private readonly sessions: ChatSessions,
    connections: RedisConnections,
  ) {
    const { chat } = config;
    if (connections.enabled) {
      // A client of its own: the bus connections are in subscriber mode or owned by Nest.
      const redis = connections.open({ maxRetriesPerRequest: 2 });
      redis.on('error', (err: Error) => this.log.warn(`chat Redis: ${err.message}`));
      const prefix = chat.keyPrefix;
      this.store = new RedisChatStore(redis, { historyLimit: chat.historyLimit, roomTtlMs: chat.roomTtlSeconds * 1000, prefix });
      this.board = new RedisPresenceBoard(redis, randomUUID(), chat.presenceTimeoutMs, prefix);
      this.limiter = new RedisWindowLimiter(redis, `${prefix}limit:`);
    } else {
      this.store = new MemoryChatStore({ historyLimit: chat.historyLimit, roomTtlMs: chat.roomTtlSeconds * 1000 });
      this.board = new LocalPresenceBoard();
      this.limiter = new MemoryWindowLimiter();
    }
    this.registry.onIdentityChange((change) =>
      this.identityChanged(change).catch((err: Error) => this.log.error({ msg: 'room re-check failed', sessionId: change.session.id, err: err.stack })),
    );
    this.nodeAccess = new NodeAccessClient({ url: chat.nodeAuthUrl, ttlMs: chat.nodeAuthCacheSeconds * 1000 });
    const sweep = () => this.sweep().catch((err: Error) => this.log.error({ msg: 'presence sweep failed', err: err?.stack }));
    this.sweeper = setInterval(sweep, Math.max(25, Math.floor(chat.presenceTimeoutMs / 4)));
    this.sweeper.unref();
  }

  private get registry() {
    return this.sessions.registry;
  }

  // ---------------------------------------------------------------- client frames

  /** JOIN, and its PING form: find (or, unless a PING, create) the room, authorize, enter it. */
  async join(session: Session, msg: Json): Promise<void> {
    const identity = session.identity;
    if (!identity) return refuse(session, 'not subscribed');
    const ref = parseRoomRef(msg.Room);
    const ping = isRecord(msg.Message) && msg.Message.Message === 'PING';
    // Per user, PINGs included: a user's many sessions cannot flood a room with ROOM_UPDATEs.
    if (!(await this.limiter.take(`join:${identity.user}`, this.config.chat.userJoinRate, 1000))) {
      return refuse(session, 'too many joins', { Room: ref });
    }
    const access = await this.authorize(session, identity, ref);
    let room = await this.store.findRoom(ref.Type, ref.RoomTypeObject);
    if (!this.current(session, identity)) return;
    if (!access.allowed) {
      // A member whose access was revoked finds out at its next PING, and leaves.
      if (room && session.rooms.has(room.Uuid)) this.removeFromRoom(session, room.Uuid);
      return refuse(session, access.reason ?? 'forbidden', { Room: ref });
    }
    const max = this.config.chat.maxRoomsPerSession;
    if (!room) {
      // A heartbeat keeps a session in a room; it never creates one.
      if (ping) return refuse(session, 'room not found', { Room: ref });
      if (session.rooms.size >= max) return refuse(session, `more than ${max} rooms`, { Room: ref });
      const { roomCreateLimit, roomCreateWindowSeconds } = this.config.chat;
      if (!(await this.limiter.take(`create:${identity.user}`, roomCreateLimit, roomCreateWindowSeconds * 1000))) {
        return refuse(session, 'too many rooms created', { Room: ref });
      }
      room = await this.store.createRoom(newRoom(ref));
      if (!this.current(session, identity)) return;
    } else if (!ping) {
      await this.store.touchRoom(room.Uuid);
      if (!this.current(session, identity)) return;
    }
    if (!session.rooms.has(room.Uuid) && session.rooms.size >= max) {
      return refuse(session, `more than ${max} rooms`, { Room: ref });
    }
    this.registry.joinRoom(session, room.Uuid);
    const { readOnly, refs } = this.state(session);
    refs.set(room.Uuid, { Type: room.Type, RoomTypeObject: room.RoomTypeObject });
    if (access.readOnly) readOnly.add(room.Uuid);
    else readOnly.delete(room.Uuid);
    if (!this.shown.has(room.Uuid)) this.shown.set(room.Uuid, undefined);
    const changedHere = this.presence.join(room.Uuid, identity.user, session.id, Date.now()).length > 0;
    const users = changedHere ? await this.board.write(room.Uuid, this.presence.users(room.Uuid)) : await this.board.read(room.Uuid);
    // The room hears of a JOIN or PING only when its users changed (not for a member joining
    // again, nor for another session of a user present already, here or elsewhere)...
    if (changedHere && usersKey(users) !== this.shown.get(room.Uuid)) return this.publishRoom(room.Uuid, users);
    // ...but a JOIN always shows the room to the joiner, so that it learns the Uuid.
    if (!ping && this.current(session, identity) && session.rooms.has(room.Uuid)) session.reply({ '@type': 'ROOM_UPDATE', Room: { ...room, Users: users } });
  }

  /** LEAVE; leaving a room the session is not in is a no-op. */
  async leave(session: Session, msg: Json): Promise<void> {
    const ref = parseRoomRef(msg.Room);
    const room = await this.store.findRoom(ref.Type, ref.RoomTypeObject);
    if (room && session.rooms.has(room.Uuid)) this.removeFromRoom(session, room.Uuid);
  }

  /** HISTORY: ROOM_UPDATE, the messages oldest first, then MAY_HAVE_MORE when the page was full. */
  async history(session: Session, msg: Json): Promise<void> {
    const identity = session.identity;
    if (!identity) return refuse(session, 'not subscribed');
    const ref = parseRoomRef(msg.Room);
    const { Offset, Limit } = parseHistoryRequest(isRecord(msg.Message) ? optString(msg.Message, 'Message', 'Message') : undefined);
    const room = await this.store.findRoom(ref.Type, ref.RoomTypeObject);
    // Not a member (yet): no answer, whether the room exists or not, so a non-member learns
    // nothing. The Cells chat UI sends HISTORY before its JOIN and asks again on the
    // ROOM_UPDATE the JOIN brings; it would show an error frame as a message. Cells itself
    // answers nothing for a room it does not know.
    if (!room || !session.rooms.has(room.Uuid)) return;
    const [users, messages] = await Promise.all([this.board.read(room.Uuid), this.store.listMessages(room.Uuid, Offset, Limit)]);
    if (!this.current(session, identity) || !session.rooms.has(room.Uuid)) return;
    session.reply({ '@type': 'ROOM_UPDATE', Room: { ...room, Users: users } });
    for (const m of messages) session.reply(m);
    if (Limit > 0 && messages.length === Limit) {
      // Timestamp: the oldest message of this page, i.e. where the next page continues.
      session.reply({ '@type': 'MAY_HAVE_MORE', RoomUuid: room.Uuid, Timestamp: messages[0].Timestamp, Offset: Offset + Limit, Limit });
    }
  }

  /** POST (alias msg): store the sanitized message and publish it to the room. */
  async post(session: Session, msg: Json): Promise<void> {
    const identity = session.identity;
    if (!identity) return refuse(session, 'not subscribed');
    const state = this.state(session);
    const m = requireRecord(msg.Message, 'Message');
    const roomUuid = optString(m, 'RoomUuid', 'Message') ?? '';
    const about = { Room: { Uuid: roomUuid } };
    if (!state.posts.take()) return refuse(session, 'too many messages', about);
    if (!session.rooms.has(roomUuid)) return refuse(session, 'room not joined', about);
    if (state.readOnly.has(roomUuid)) return refuse(session, 'room is read-only', about);
    const text = sanitizeMessage(optString(m, 'Message', 'Message') ?? '');
    if (text === '') return refuse(session, 'empty message', about);
    const max = this.config.chat.maxMessageLength;
    // Counted in code points, after stripping: what is stored and shown.
    if ([...text].length > max) return refuse(session, `message longer than ${max} characters`, about);
    // Per user too, across sessions and instances: many sessions of one user cannot flood a room.
    if (!(await this.limiter.take(`post:${identity.user}`, this.config.chat.userMessageRate, 1000))) {
      return refuse(session, 'too many messages', about);
    }
    // Membership may have been revoked meanwhile (workspace deletion).
    if (!this.current(session, identity) || !session.rooms.has(roomUuid)) return refuse(session, 'room not joined', about);

    const message: ChatMessage = { Uuid: randomUUID(), RoomUuid: roomUuid, Message: text, Author: identity.user, Timestamp: unixSeconds() };
    await this.store.addMessage(message);
    this.metrics.chatMessages.inc();
    await this.publish({ Message: message });
  }

  /** DELETE_MSG: only the stored message's author, from inside the room. */
  async deleteMessage(session: Session, msg: Json): Promise<void> {
    const identity = session.identity;
    if (!identity) return refuse(session, 'not subscribed');
    const m = requireRecord(msg.Message, 'Message');
    const roomUuid = optString(m, 'RoomUuid', 'Message') ?? '';
    const uuid = optString(m, 'Uuid', 'Message') ?? '';
    const about = { Room: { Uuid: roomUuid }, Message: { Uuid: uuid, RoomUuid: roomUuid } };
    if (!session.rooms.has(roomUuid)) return refuse(session, 'room not joined', about);
    if (this.state(session).readOnly.has(roomUuid)) return refuse(session, 'room is read-only', about);
    // The stored author decides, never what the client claims (fix).
    const stored = await this.store.getMessage(roomUuid, uuid);
    if (!this.current(session, identity) || !session.rooms.has(roomUuid)) return refuse(session, 'room not joined', about);
    if (!stored) return refuse(session, 'message not found', about);
    if (stored.Author !== identity.user) return refuse(session, 'not the author of the message', about);
    // False when a concurrent delete won: that one is announced already.
    if (await this.store.deleteMessage(roomUuid, uuid)) await this.publish({ Message: stored, Details: DELETE_DETAILS });
  }

  // ---------------------------------------------------------------- session lifecycle

  /**
   * Every identity change (SessionRegistry listener): keep the token of a subscribe; out of
   * every room when unsubscribed; else re-check each room against the new identity (PROTOCOL
   * 2), the user of a session that became another one being replaced in the rooms it keeps.
   * A subscribe answers, and the session's next frame runs, only once this is done.
   */
  private async identityChanged({ session, previous, token }: IdentityChange): Promise<void> {
    const state = this.state(session);
    if (token !== undefined) state.jwt = token;
    const identity = session.identity;
    if (!identity) {
      state.jwt = undefined;
      return this.leaveAll(session);
    }
    if (!previous) return;
    // Rooms decided by the identity alone first, synchronously: no frame can slip in between.
    const remote: string[] = [];
    let revoked = false;
    for (const roomUuid of [...session.rooms]) {
      const ref = state.refs.get(roomUuid);
      if (!ref || ref.Type === 'NODE') remote.push(roomUuid);
      else revoked = this.applyAccess(session, roomUuid, ref, roomAccess(ref, identity)) || revoked;
    }
    for (const roomUuid of remote) {
      const room = state.refs.get(roomUuid) ?? (await this.store.getRoom(roomUuid));
      const access = room ? await this.authorize(session, identity, room) : undefined;
      if (!this.current(session, identity)) return;
      if (!session.rooms.has(roomUuid)) continue;
      revoked = this.applyAccess(session, roomUuid, room, access) || revoked;
    }
    // Frames of a revoked room may be queued already: drop what is queued.
    if (revoked) session.forgetQueued();
    if (previous.user === identity.user) return;
    const now = Date.now();
    for (const roomUuid of session.rooms) this.announce(this.presence.join(roomUuid, identity.user, session.id, now));
  }

  /** Keeps the session in the room as `access` says, or takes it out and tells it; true when taken out. */
  private applyAccess(session: Session, roomUuid: string, room: Pick<ChatRoom, 'Type' | 'RoomTypeObject'> | undefined, access: RoomAccess | undefined): boolean {
    const { readOnly } = this.state(session);
    if (access?.allowed) {
      if (access.readOnly) readOnly.add(roomUuid);
      else readOnly.delete(roomUuid);
      return false;
    }
    this.removeFromRoom(session, roomUuid);
    const about = room ? { Uuid: roomUuid, Type: room.Type, RoomTypeObject: room.RoomTypeObject } : { Uuid: roomUuid };
    refuse(session, access?.reason ?? 'room not found', { Room: about });
    return true;
  }

  // ---------------------------------------------------------------- bus and presence

  parse(raw: unknown): ChatEvent {
    return parseChatEvent(raw);
  }

  /** The chat topic: one frame, serialized once, to this instance's sessions in the room. */
  handle(e: ChatEvent): void {
    const { roomUuid, frame } = chatFrame(e);
    const sessions = this.registry.withKeys([roomKey(roomUuid)]);
    if (e.Room && !e.Message && sessions.size) this.shown.set(roomUuid, usersKey(e.Room.Users));
    this.fanout.send(sessions, JSON.stringify(frame), 'chat');
  }

  private async publish(event: ChatEvent): Promise<void> {
    await this.bus.publish(this.config.channels.chat, event);
  }

  /** Writes this instance's users of the room to the board, then publishes the room with everyone's. */
  private async syncRoom(roomUuid: string): Promise<void> {
    await this.publishRoom(roomUuid, await this.board.write(roomUuid, this.presence.users(roomUuid)));
  }

  private async publishRoom(roomUuid: string, users: string[]): Promise<void> {
    const room = await this.store.getRoom(roomUuid);
    if (!room) return;
    await this.publish({ Room: { ...room, Users: users } });
    // On its way: the sweep need not send it again.
    if (this.shown.has(roomUuid)) this.shown.set(roomUuid, usersKey(users));
  }

  /** syncRoom for presence changes that no client frame waits for (close, leave). */
  private announce(roomUuids: string[]): void {
    if (this.stopping) return;
    for (const roomUuid of roomUuids) {
      this.syncRoom(roomUuid).catch((err: Error) => this.log.warn({ msg: 'room update failed', roomUuid, err: err.message }));
    }
  }

  /**
   * Every timeout/4: expires sessions that stopped pinging, refreshes this instance's board
   * entries, and publishes every room whose merged users differ from what its members here
   * were last shown (an expiry here, an instance gone elsewhere, or a lost update).
   */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopping) return;
    this.sweeping = true;
    try {
      this.presence.expire(Date.now(), this.config.chat.presenceTimeoutMs);
      const results = await Promise.allSettled([...this.shown.keys()].map((roomUuid) => this.refresh(roomUuid)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) this.log.warn({ msg: 'presence sweep failed', err: (failed.reason as Error).message });
    } finally {
      this.sweeping = false;
    }
  }

  private async refresh(roomUuid: string): Promise<void> {
    const here = this.registry.withKeys([roomKey(roomUuid)]).size > 0;
    if (!here) {
      this.shown.delete(roomUuid);
      this.touched.delete(roomUuid);
    } else if (Date.now() - (this.touched.get(roomUuid) ?? 0) > this.touchEveryMs) {
      // Members here keep the room (and its history) from expiring.
      this.touched.set(roomUuid, Date.now());
      await this.store.touchRoom(roomUuid);
    }
    const users = await this.board.write(roomUuid, this.presence.users(roomUuid));
    if (here && usersKey(users) !== this.shown.get(roomUuid)) await this.publishRoom(roomUuid, users);
  }

  // ---------------------------------------------------------------- helpers

  private async authorize(session: Session, identity: Identity, room: Pick<RoomRef, 'Type' | 'RoomTypeObject'>): Promise<RoomAccess> {
    const jwt = this.state(session).jwt;
    const node = room.Type === 'NODE' && jwt ? await this.nodeAccess.check(jwt, room.RoomTypeObject) : undefined;
    return roomAccess(room, identity, node);
  }

  /** A quarter of the room TTL, at most an hour. */
  private get touchEveryMs(): number {
    return Math.min((this.config.chat.roomTtlSeconds * 1000) / 4, 3_600_000);
  }

  private removeFromRoom(session: Session, roomUuid: string): void {
    this.registry.leaveRoom(session, roomUuid);
    this.state(session).readOnly.delete(roomUuid);
    this.state(session).refs.delete(roomUuid);
    this.announce(this.presence.leave(roomUuid, session.user ?? '', session.id));
  }

  private leaveAll(session: Session): void {
    for (const roomUuid of [...session.rooms]) this.registry.leaveRoom(session, roomUuid);
    this.state(session).readOnly.clear();
    this.state(session).refs.clear();
    this.announce(this.presence.dropSession(session.id));
  }

  /** False when, during an await, the session closed or subscribed again: its frame is dropped. */
  private current(session: Session, identity: Identity): boolean {
    return session.identity === identity && this.registry.get(session.id) === session;
  }

  private state(session: Session): ChatState {
    let state = this.states.get(session);
    if (!state) {
      const rate = this.config.chat.messageRate;
      this.states.set(session, (state = { readOnly: new Set(), posts: new TokenBucket(rate, rate), refs: new Map() }));
    }
    return state;
  }

  // ---------------------------------------------------------------- shutdown

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    // Withdraw this instance's users now rather than let the other instances wait for them to go stale.
    await Promise.allSettled([...this.shown.keys()].map(async (roomUuid) => this.publishRoom(roomUuid, await this.board.write(roomUuid, []))));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/** A refusal answers the one session and names what it refused; nothing reaches the room. */
function refuse(session: Session, error: string, about: object = {}): void {
  session.reply({ '@type': 'error', error, ...about });
}

const roomKey = (roomUuid: string) => `room:${roomUuid}`;
const unixSeconds = () => String(Math.floor(Date.now() / 1000));
const usersKey = (users: string[]) => [...users].sort().join('\n');

function newRoom(ref: RoomRef): ChatRoom {
  const room: ChatRoom = { Uuid: randomUUID(), Type: ref.Type, RoomTypeObject: ref.RoomTypeObject, Users: [], LastUpdated: unixSeconds() };
  if (ref.RoomLabel !== undefined) room.RoomLabel = ref.RoomLabel;
  return room;
}
