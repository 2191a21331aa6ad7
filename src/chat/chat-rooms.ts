/**
 * The client frames of `/chat` (PROTOCOL.md 4): JOIN (and its PING form), LEAVE, HISTORY,
 * POST, DELETE_MSG, each as read by its schema at the gateway, and who may stay in which room
 * when a session's identity changes.
 *
 * Every change (post, deletion) is published on the chat channel and reaches the sessions
 * through ChatTopic, never directly: members on every instance, this one included, receive
 * it exactly once. Answers to one session (errors, HISTORY) are replied to it directly.
 * Presence (who is in the room, the ROOM_UPDATEs) is ChatPresence's.
 *
 * Limits per user (posts, joins, rooms created) are counted by the WindowLimiter (in Redis
 * with REDIS_URL), so they hold across sessions and instances. Memberships are re-checked at
 * every identity change (SessionRegistry listener): re-subscribe, unsubscribe, workspace deletion.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Identity } from '../auth/identity.js';
import { Bus } from '../bus/bus.js';
import { TokenBucket } from '../common/token-bucket.js';
import { WindowLimiter } from './window-limiter.js';
import { CONFIG, type Config } from '../config/config.js';
import { MemoryBudget } from '../memory/memory-budget.js';
import { Metrics } from '../metrics/metrics.js';
import type * as z from 'zod';
import { errorFrame, type ChatDeleteMsgFrame, type ChatHistoryFrame, type ChatJoinFrame, type ChatLeaveFrame, type ChatPostFrame, type ErrorCode } from '../protocol/frames.js';
import { ChatSessions } from '../sessions/endpoints.js';
import type { Session } from '../sessions/session.js';
import type { IdentityChange } from '../sessions/session-registry.js';
import { DELETE_DETAILS, type ChatEvent } from './chat-event.js';
import { ChatPresence } from './chat-presence.js';
import { ChatStore } from './chat-store.js';
import { parseHistoryRequest, type ChatRoom, type RoomRef } from './chat-types.js';
import { NodeAccessClient } from './node-access.js';
import { roomAccess, type RoomAccess } from './room-access.js';
import { sanitizeMessage } from './sanitize.js';

/** A client frame as its schema read it. */
type Read<S extends z.ZodType> = z.output<S>;

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

@Injectable()
export class ChatRooms {
  private readonly log = new Logger(ChatRooms.name);
  private readonly states = new WeakMap<Session, ChatState>();
  private readonly messageMaxBytes: number;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly bus: Bus,
    private readonly metrics: Metrics,
    private readonly sessions: ChatSessions,
    private readonly store: ChatStore,
    private readonly limiter: WindowLimiter,
    private readonly nodeAccess: NodeAccessClient,
    private readonly presence: ChatPresence,
    private readonly memory: MemoryBudget,
  ) {
    // A stored message at its largest: every character 4 bytes of UTF-8, and the fields around it.
    this.messageMaxBytes = config.chat.maxMessageLength * 4 + 512;
    this.registry.onIdentityChange((change) =>
      this.identityChanged(change).catch((err: Error) => this.log.error({ msg: 'room re-check failed', sessionId: change.session.id, err: err.stack })),
    );
  }

  private get registry() {
    return this.sessions.registry;
  }

  // ---------------------------------------------------------------- client frames

  /** JOIN, and its PING form: find (or, unless a PING, create) the room, authorize, enter it. */
  async join(session: Session, frame: Read<typeof ChatJoinFrame>): Promise<void> {
    const identity = session.identity;
    if (!identity) return refuse(session, 'not_subscribed');
    const ref = frame.Room;
    const ping = frame.Message?.Message === 'PING';
    // Per user, PINGs included: a user's many sessions cannot flood a room with ROOM_UPDATEs.
    if (!(await this.limiter.take(`join:${identity.user}`, this.config.chat.userJoinRate, 1000))) {
      return refuse(session, 'rate_limited', { Room: ref }, 'too many joins');
    }
    const access = await this.authorize(session, identity, ref);
    let room = await this.store.findRoom(ref.Type, ref.RoomTypeObject);
    if (!this.current(session, identity)) return;
    if (!access.allowed) {
      // A member whose access was revoked finds out at its next PING, and leaves.
      if (room && session.rooms.has(room.Uuid)) this.removeFromRoom(session, room.Uuid);
      return refuse(session, 'forbidden', { Room: ref }, access.reason);
    }
    const max = this.config.chat.maxRoomsPerSession;
    if (!room) {
      // A heartbeat keeps a session in a room; it never creates one.
      if (ping) return refuse(session, 'room_not_found', { Room: ref });
      if (session.rooms.size >= max) return refuse(session, 'too_many_rooms', { Room: ref }, `more than ${max} rooms`);
      const { roomCreateLimit, roomCreateWindowSeconds } = this.config.chat;
      if (!(await this.limiter.take(`create:${identity.user}`, roomCreateLimit, roomCreateWindowSeconds * 1000))) {
        return refuse(session, 'rate_limited', { Room: ref }, 'too many rooms created');
      }
      room = await this.store.createRoom(newRoom(ref));
      if (!this.current(session, identity)) return;
    } else if (!ping) {
      await this.store.touchRoom(room.Uuid);
      if (!this.current(session, identity)) return;
    }
    if (!session.rooms.has(room.Uuid) && session.rooms.size >= max) {
      return refuse(session, 'too_many_rooms', { Room: ref }, `more than ${max} rooms`);
    }
    this.registry.joinRoom(session, room.Uuid);
    const { readOnly, refs } = this.state(session);
    refs.set(room.Uuid, { Type: room.Type, RoomTypeObject: room.RoomTypeObject });
    if (access.readOnly) readOnly.add(room.Uuid);
    else readOnly.delete(room.Uuid);
    const users = await this.presence.enter(room.Uuid, identity.user, session.id);
    // Unless a ROOM_UPDATE to the room is on its way, a JOIN shows the room to the joiner, so that it learns the Uuid.
    if (users && !ping && this.current(session, identity) && session.rooms.has(room.Uuid)) session.reply({ '@type': 'ROOM_UPDATE', Room: { ...room, Users: users } });
  }

  /** LEAVE; leaving a room the session is not in is a no-op. */
  async leave(session: Session, frame: Read<typeof ChatLeaveFrame>): Promise<void> {
    const ref = frame.Room;
    const room = await this.store.findRoom(ref.Type, ref.RoomTypeObject);
    if (room && session.rooms.has(room.Uuid)) this.removeFromRoom(session, room.Uuid);
  }

  /** HISTORY: ROOM_UPDATE, the messages oldest first, then MAY_HAVE_MORE when the page was full. */
  async history(session: Session, frame: Read<typeof ChatHistoryFrame>): Promise<void> {
    const identity = session.identity;
    if (!identity) return refuse(session, 'not_subscribed');
    const ref = frame.Room;
    const { Offset, Limit } = parseHistoryRequest(frame.Message?.Message ?? undefined);
    const room = await this.store.findRoom(ref.Type, ref.RoomTypeObject);
    // Not a member (yet): no answer, whether the room exists or not, so a non-member learns
    // nothing. The Cells chat UI sends HISTORY before its JOIN and asks again on the
    // ROOM_UPDATE the JOIN brings; it would show an error frame as a message. Cells itself
    // answers nothing for a room it does not know.
    if (!room || !session.rooms.has(room.Uuid)) return;
    // Bounded in bytes: what the answer adds to what the session has not read yet stays within
    // CHAT_HISTORY_MAX_BYTES, and its read within the memory budget. A socket that does not
    // read is refused before anything is read for it.
    const allowance = this.config.chat.historyMaxBytes - session.outbox.unsentBytes;
    if (allowance <= 0) return this.refuseHistory(session, ref, 'unread');
    const reservation = this.memory.reserve(Math.min(allowance, Limit * this.messageMaxBytes), 'chat_history');
    if (!reservation) return this.refuseHistory(session, ref, 'memory');
    try {
      const [users, page] = await Promise.all([this.presence.users(room.Uuid), this.store.listPage(room.Uuid, Offset, Limit, allowance)]);
      reservation.release(reservation.bytes - page.bytes);
      if (!this.current(session, identity) || !session.rooms.has(room.Uuid)) return;
      const { messages } = page;
      session.reply({ '@type': 'ROOM_UPDATE', Room: { ...room, Users: users } });
      for (const m of messages) session.reply(m);
      if (Limit > 0 && (messages.length === Limit || page.cut)) {
        // Where the next page starts: after the messages sent (fewer than Limit when cut to
        // the byte bound). Timestamp: the oldest message of this page.
        session.reply({ '@type': 'MAY_HAVE_MORE', RoomUuid: room.Uuid, Timestamp: messages[0].Timestamp, Offset: Offset + messages.length, Limit });
      }
    } finally {
      reservation.release();
    }
  }

  /** A HISTORY not answered now: the session's unread bytes, or the memory budget. */
  private refuseHistory(session: Session, ref: RoomRef, reason: 'unread' | 'memory'): void {
    this.metrics.chatHistoryRefused.inc({ reason });
    refuse(session, 'busy', { Room: ref }, reason === 'unread' ? 'too much unread: read what was sent first' : 'server busy: try again later');
  }

  /**
   * POST (alias msg): store the sanitized message and publish it to the room. With a client `id`
   * (ext), answered exactly once: `ack` once stored and published, or the refusal with the `id`.
   */
  async post(session: Session, frame: Read<typeof ChatPostFrame>): Promise<void> {
    const id = frame.id !== undefined ? { id: frame.id } : undefined;
    const identity = session.identity;
    if (!identity) return refuse(session, 'not_subscribed', id);
    const state = this.state(session);
    const roomUuid = frame.Message.RoomUuid;
    const about = { Room: { Uuid: roomUuid }, ...id };
    if (!state.posts.take()) return refuse(session, 'rate_limited', about, 'too many messages');
    if (!session.rooms.has(roomUuid)) return refuse(session, 'room_not_joined', about);
    if (state.readOnly.has(roomUuid)) return refuse(session, 'read_only', about);
    const text = sanitizeMessage(frame.Message.Message);
    if (text === '') return refuse(session, 'empty_message', about);
    const max = this.config.chat.maxMessageLength;
    // Counted in code points, after stripping: what is stored and shown.
    if ([...text].length > max) return refuse(session, 'message_too_long', about, `message longer than ${max} characters`);
    // Per user too, across sessions and instances: many sessions of one user cannot flood a room.
    if (!(await this.limiter.take(`post:${identity.user}`, this.config.chat.userMessageRate, 1000))) {
      return refuse(session, 'rate_limited', about, 'too many messages');
    }
    // Membership may have been revoked meanwhile (workspace deletion).
    if (!this.current(session, identity) || !session.rooms.has(roomUuid)) return refuse(session, 'room_not_joined', about);

    const stored = await this.store.addMessage({ Uuid: randomUUID(), RoomUuid: roomUuid, Message: text, Author: identity.user, Timestamp: unixSeconds() });
    this.metrics.chatMessages.inc();
    await this.publish({ Message: stored });
    if (id) session.reply({ '@type': 'ack', ...id, RoomUuid: roomUuid, Uuid: stored.Uuid, Seq: stored.Seq });
  }

  /** DELETE_MSG: only the stored message's author, from inside the room. */
  async deleteMessage(session: Session, frame: Read<typeof ChatDeleteMsgFrame>): Promise<void> {
    const id = frame.id !== undefined ? { id: frame.id } : undefined;
    const identity = session.identity;
    if (!identity) return refuse(session, 'not_subscribed', id);
    const { RoomUuid: roomUuid, Uuid: uuid } = frame.Message;
    const about = { Room: { Uuid: roomUuid }, Message: { Uuid: uuid, RoomUuid: roomUuid }, ...id };
    if (!session.rooms.has(roomUuid)) return refuse(session, 'room_not_joined', about);
    if (this.state(session).readOnly.has(roomUuid)) return refuse(session, 'read_only', about);
    // The stored author decides, never what the client claims (fix).
    const stored = await this.store.getMessage(roomUuid, uuid);
    if (!this.current(session, identity) || !session.rooms.has(roomUuid)) return refuse(session, 'room_not_joined', about);
    if (!stored) return refuse(session, 'message_not_found', about);
    if (stored.Author !== identity.user) return refuse(session, 'not_author', about);
    // False when a concurrent delete won: that one is announced already (and the message is gone: acked).
    if (await this.store.deleteMessage(roomUuid, uuid)) await this.publish({ Message: stored, Details: DELETE_DETAILS });
    if (id) session.reply({ '@type': 'ack', ...id, RoomUuid: roomUuid, Uuid: uuid });
  }

  // ---------------------------------------------------------------- identity changes

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
    if (previous.user !== identity.user) this.presence.becomes(session.id, identity.user, session.rooms);
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
    refuse(session, access?.reason ? 'forbidden' : 'room_not_found', { Room: about }, access?.reason);
    return true;
  }

  // ---------------------------------------------------------------- helpers

  private async publish(event: ChatEvent): Promise<void> {
    await this.bus.publish(this.config.channels.chat, event);
  }

  private async authorize(session: Session, identity: Identity, room: Pick<RoomRef, 'Type' | 'RoomTypeObject'>): Promise<RoomAccess> {
    const jwt = this.state(session).jwt;
    const node = room.Type === 'NODE' && jwt ? await this.nodeAccess.check(jwt, room.RoomTypeObject) : undefined;
    return roomAccess(room, identity, node);
  }

  private removeFromRoom(session: Session, roomUuid: string): void {
    this.registry.leaveRoom(session, roomUuid);
    this.state(session).readOnly.delete(roomUuid);
    this.state(session).refs.delete(roomUuid);
    this.presence.leave(roomUuid, session.id);
  }

  private leaveAll(session: Session): void {
    for (const roomUuid of [...session.rooms]) this.registry.leaveRoom(session, roomUuid);
    this.state(session).readOnly.clear();
    this.state(session).refs.clear();
    this.presence.drop(session.id);
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
}

/** A refusal answers the one session and names what it refused; nothing reaches the room. */
function refuse(session: Session, code: ErrorCode, about: object = {}, text?: string): void {
  session.reply({ ...errorFrame(code, text), ...about });
}


const unixSeconds = () => String(Math.floor(Date.now() / 1000));

function newRoom(ref: RoomRef): ChatRoom {
  const room: ChatRoom = { Uuid: randomUUID(), Type: ref.Type, RoomTypeObject: ref.RoomTypeObject, Users: [], LastUpdated: unixSeconds() };
  if (ref.RoomLabel !== undefined) room.RoomLabel = ref.RoomLabel;
  return room;
}
