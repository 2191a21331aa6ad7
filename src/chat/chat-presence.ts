/**
 * Who is present in the chat rooms, and the ROOM_UPDATEs that tell the rooms (PROTOCOL.md 4).
 *
 * `Presence` tracks this instance's sessions; the PresenceBoard (Redis with REDIS_URL) merges
 * every instance's users, and the merged list travels in the ROOM_UPDATE, published on the
 * chat channel like every chat change. A room hears of a change only when its merged users
 * differ from what its members here were last shown, and at most once per window
 * (RoomUpdateWindows): a JOIN burst costs O(n) frames, not O(n^2). A sweep expires silent
 * sessions, keeps the board entries and the rooms of the members here alive, and repairs
 * what was lost; a stopping instance withdraws its users at once.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Bus } from '../bus/bus.js';
import { CONFIG, type Config } from '../config/config.js';
import { ChatSessions } from '../sessions/endpoints.js';
import type { ChatEvent } from './chat-event.js';
import { ChatStore } from './chat-store.js';
import { PresenceBoard } from './presence-board.js';
import { Presence } from './presence.js';
import { RoomUpdateWindows } from './room-update-windows.js';

/** The session registry key of a chat room's sessions. */
export const roomKey = (roomUuid: string) => `room:${roomUuid}`;

const usersKey = (users: string[]) => [...users].sort().join('\n');

@Injectable()
export class ChatPresence implements OnModuleDestroy {
  private readonly log = new Logger(ChatPresence.name);
  private readonly presence = new Presence();
  /** Rooms with sessions here -> the users last delivered to them (undefined: none yet). */
  private readonly shown = new Map<string, string | undefined>();
  /** Rooms with sessions here -> when the sweep last touched them in the store (keeps them from expiring). */
  private readonly touched = new Map<string, number>();
  private readonly windows: RoomUpdateWindows;
  private readonly sweeper: NodeJS.Timeout;
  private sweeping = false;
  private stopping = false;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly bus: Bus,
    private readonly store: ChatStore,
    private readonly board: PresenceBoard,
    private readonly sessions: ChatSessions,
  ) {
    const { presenceTimeoutMs, roomUpdateWindowMs } = config.chat;
    this.windows = new RoomUpdateWindows(roomUpdateWindowMs, (roomUuid) => this.background(this.flush(roomUuid), 'room update failed', roomUuid));
    this.sweeper = setInterval(() => this.background(this.sweep(), 'presence sweep failed'), Math.max(25, Math.floor(presenceTimeoutMs / 4)));
    this.sweeper.unref();
  }

  /**
   * A JOIN or PING put the session in the room (again). Resolves with the room's users when
   * the joiner must be shown them itself, undefined when a ROOM_UPDATE to the whole room (the
   * joiner included) is on its way: now, or at the end of the room's window.
   */
  async enter(roomUuid: string, user: string, sessionId: string): Promise<string[] | undefined> {
    if (!this.shown.has(roomUuid)) this.shown.set(roomUuid, undefined);
    // Not for a member joining again, nor for another session of a user present already here.
    if (this.presence.join(roomUuid, user, sessionId, Date.now()).length === 0) return this.board.read(roomUuid);
    const users = await this.board.write(roomUuid, this.presence.users(roomUuid));
    return (await this.changed(roomUuid, users)) ? undefined : users;
  }

  /** LEAVE, or taken out of the room (access revoked). */
  leave(roomUuid: string, sessionId: string): void {
    this.announce(this.presence.leave(roomUuid, '', sessionId));
  }

  /** The session closed or unsubscribed: out of every room. */
  drop(sessionId: string): void {
    this.announce(this.presence.dropSession(sessionId));
  }

  /** The session is now `user` (a re-subscribe as another user) in the rooms it keeps. */
  becomes(sessionId: string, user: string, roomUuids: Iterable<string>): void {
    const now = Date.now();
    for (const roomUuid of roomUuids) this.announce(this.presence.join(roomUuid, user, sessionId, now));
  }

  /** Every instance's users of the room, sorted. */
  users(roomUuid: string): Promise<string[]> {
    return this.board.read(roomUuid);
  }

  /** The members here were just shown these users (ChatTopic delivered a ROOM_UPDATE); rooms without members here are not kept. */
  shownHere(roomUuid: string, users: string[]): void {
    if (this.shown.has(roomUuid)) this.shown.set(roomUuid, usersKey(users));
  }

  /** Presence changes that no client frame waits for (leave, close, user switch). */
  private announce(roomUuids: string[]): void {
    if (this.stopping) return;
    for (const roomUuid of roomUuids) {
      const work = async () => this.changed(roomUuid, await this.board.write(roomUuid, this.presence.users(roomUuid)));
      this.background(work(), 'room update failed', roomUuid);
    }
  }

  /**
   * The room's merged users are now `users` (just written to the board). Unless its members
   * were shown them already (false), a ROOM_UPDATE goes to the room: now when the room's
   * window is closed, else at the window's end, with the users as they are then.
   */
  private async changed(roomUuid: string, users: string[]): Promise<boolean> {
    if (usersKey(users) === this.shown.get(roomUuid)) return false;
    if (this.windows.request(roomUuid)) await this.publishRoom(roomUuid, users);
    return true;
  }

  /** The end of a window in which the room changed: one ROOM_UPDATE with its users as they are now. */
  private async flush(roomUuid: string): Promise<void> {
    if (this.stopping) return;
    const users = await this.board.write(roomUuid, this.presence.users(roomUuid));
    if (usersKey(users) !== this.shown.get(roomUuid)) await this.publishRoom(roomUuid, users);
  }

  private async publishRoom(roomUuid: string, users: string[]): Promise<void> {
    const room = await this.store.getRoom(roomUuid);
    if (!room) return;
    const event: ChatEvent = { Room: { ...room, Users: users } };
    await this.bus.publish(this.config.channels.chat, event);
    // On its way: the sweep need not send it again.
    if (this.shown.has(roomUuid)) this.shown.set(roomUuid, usersKey(users));
  }

  /**
   * Every timeout/4: expires sessions that stopped pinging, refreshes this instance's board
   * entries, and updates every room whose merged users differ from what its members here
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
    const here = this.sessions.registry.withKeys([roomKey(roomUuid)]).size > 0;
    if (!here) {
      this.shown.delete(roomUuid);
      this.touched.delete(roomUuid);
    } else if (Date.now() - (this.touched.get(roomUuid) ?? 0) > this.touchEveryMs) {
      // Members here keep the room (and its history) from expiring.
      this.touched.set(roomUuid, Date.now());
      await this.store.touchRoom(roomUuid);
    }
    const users = await this.board.write(roomUuid, this.presence.users(roomUuid));
    if (here) await this.changed(roomUuid, users);
  }

  /** A quarter of the room TTL, at most an hour. */
  private get touchEveryMs(): number {
    return Math.min((this.config.chat.roomTtlSeconds * 1000) / 4, 3_600_000);
  }

  private background(work: Promise<unknown>, msg: string, roomUuid?: string): void {
    work.catch((err: Error) => this.log.warn({ msg, roomUuid, err: err?.message }));
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    this.windows.clear();
    // Withdraw this instance's users now rather than let the other instances wait for them to go stale.
    await Promise.allSettled([...this.shown.keys()].map(async (roomUuid) => this.publishRoom(roomUuid, await this.board.write(roomUuid, []))));
  }
}
