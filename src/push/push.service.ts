import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config.js';
import { EventSessions } from '../sessions/endpoints.js';
import type { Session } from '../sessions/session.js';
import type { IdentityChange } from '../sessions/session-registry.js';
import { admitRoom, pushTargets, roomNameProblem, type PushCommand } from './push-rules.js';

/**
 * Push rooms (PROTOCOL 5), websocket-push and pakyow style, on `/ws` sessions: the client's
 * joinRoom / leaveRoom, the backend's subscribeUser / unsubscribeUser (applied live, on every
 * instance to its own sessions: push.topic.ts declares them as effects), and the re-check of
 * every room when an identity changes. The pushes themselves are routed by push.topic.ts.
 *
 * websocket-push greets each socket with a random `tabWindowId`; here that token is the
 * `sessionId` of the `subscribed` ack, and `pushToSession`/`tabWindowId` target it.
 */
@Injectable()
export class PushService {
  private readonly log = new Logger(PushService.name);
  /**
   * Rooms the backend put a session in, with the user it did so for: they are kept across
   * a token refresh although the client could not have joined them itself, and dropped when
   * the session becomes another user or unsubscribes.
   */
  private readonly granted = new WeakMap<Session, Map<string, string>>();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly sessions: EventSessions,
  ) {
    sessions.registry.onIdentityChange((change) => this.recheck(change));
  }

  private get registry() {
    return this.sessions.registry;
  }

  /** A backend's room command (subscribeUser / unsubscribeUser), for this instance's sessions of the user. */
  command(cmd: PushCommand): void {
    if (cmd.kind === 'push') return;
    const { keys, session: id } = pushTargets(cmd);
    const reached = [...this.registry.withKeys(keys)].filter((s) => id === undefined || s.id === id);
    // Backend-decided subscriptions skip admission and the per-session bound: the backend is trusted.
    for (const session of reached) {
      if (cmd.kind === 'subscribe') {
        this.registry.joinRoom(session, cmd.room);
        this.grants(session).set(cmd.room, cmd.user);
      } else {
        this.drop(session, cmd.room);
      }
    }
  }

  /** A client's `joinRoom`. */
  join(session: Session, room: unknown): void {
    // Already in (maybe by a backend grant the client could not get itself): say so.
    if (typeof room === 'string' && session.rooms.has(room)) return session.reply({ '@type': 'room', room, joined: true });
    const admission = admitRoom(room, session.identity, this.config.push.openRooms);
    if (!admission.ok) return this.refuse(session, room, admission.reason);
    if (session.rooms.size >= this.config.push.maxRoomsPerSession) return this.refuse(session, room, 'too many rooms');
    this.registry.joinRoom(session, admission.room);
    session.reply({ '@type': 'room', room: admission.room, joined: true });
  }

  /** A client's `leaveRoom`. */
  leave(session: Session, room: unknown): void {
    const bad = roomNameProblem(room);
    if (bad) return this.refuse(session, room, bad);
    this.drop(session, room as string);
    session.reply({ '@type': 'room', room, joined: false, left: true });
  }

  /**
   * The identity changed (re-subscribe, unsubscribe, workspace deletion, close): drop the
   * rooms it no longer admits. Runs before the next frame of the session and, on a workspace
   * deletion, on every instance (each receives the idm event).
   */
  recheck({ session }: IdentityChange): void {
    const grants = this.granted.get(session);
    const open = session.socket.readyState === session.socket.OPEN;
    for (const room of [...session.rooms]) {
      const grantedTo = grants?.get(room);
      const admission = admitRoom(room, session.identity, this.config.push.openRooms);
      // A backend grant outlives a token refresh, but not the loss of the workspace it is about.
      const kept = grantedTo !== undefined && grantedTo === session.user && (admission.ok || !room.startsWith('workspace:'));
      if (kept) continue;
      if (admission.ok) {
        grants?.delete(room); // still in, but now on the client's own right
        continue;
      }
      this.drop(session, room);
      if (!open) continue; // closing: nobody to tell
      this.log.log({ msg: 'room left on identity change', sessionId: session.id, room, reason: admission.reason });
      // The client asked for the rooms it joined, so it hears about them; backend grants stay silent.
      if (grantedTo === undefined) session.reply({ '@type': 'room', room, joined: false, left: true, reason: admission.reason });
    }
  }

  private drop(session: Session, room: string): void {
    this.registry.leaveRoom(session, room);
    this.granted.get(session)?.delete(room);
  }

  private grants(session: Session): Map<string, string> {
    let map = this.granted.get(session);
    if (!map) this.granted.set(session, (map = new Map()));
    return map;
  }

  private refuse(session: Session, room: unknown, reason: string): void {
    // Logs a bounded excerpt: the name comes from the client.
    this.log.warn({ msg: 'room refused', sessionId: session.id, room: typeof room === 'string' ? room.slice(0, 200) : typeof room, reason });
    session.reply({ '@type': 'room', room: typeof room === 'string' ? room : null, joined: false, reason });
  }
}
