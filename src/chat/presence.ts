/**
 * Who is present in which chat room, on this instance (PROTOCOL.md 4, presence).
 *
 * A user is present in a room while at least one of its sessions is in it and alive: the
 * session joined or pinged within the timeout given to expire(). A PING is a JOIN frame, so
 * ping() also (re)adds a session that had expired. Every mutating method returns the uuids of
 * the rooms whose users() changed, so the caller knows where to send ROOM_UPDATE. The clock is
 * passed in (`now`, milliseconds): no timers here.
 */

interface Member {
  user: string;
  lastSeen: number;
}

interface RoomMembers {
  sessions: Map<string, Member>;
  /** Sessions per user, so presence changes are O(1) to detect. */
  counts: Map<string, number>;
}

export class Presence {
  private readonly rooms = new Map<string, RoomMembers>();
  private readonly roomsBySession = new Map<string, Set<string>>();

  join(roomUuid: string, user: string, sessionId: string, now: number): string[] {
    const current = this.rooms.get(roomUuid)?.sessions.get(sessionId);
    if (current?.user === user) {
      current.lastSeen = now;
      return [];
    }
    // A session that re-subscribed as another user leaves as the old one first.
    const left = current ? this.remove(roomUuid, sessionId) : false;
    let room = this.rooms.get(roomUuid);
    if (!room) this.rooms.set(roomUuid, (room = { sessions: new Map(), counts: new Map() }));
    room.sessions.set(sessionId, { user, lastSeen: now });
    const count = room.counts.get(user) ?? 0;
    room.counts.set(user, count + 1);
    let mine = this.roomsBySession.get(sessionId);
    if (!mine) this.roomsBySession.set(sessionId, (mine = new Set()));
    mine.add(roomUuid);
    return left || count === 0 ? [roomUuid] : [];
  }

  /** Heartbeat: keeps the session alive in the room, re-adding it if it had expired. */
  ping(roomUuid: string, user: string, sessionId: string, now: number): string[] {
    return this.join(roomUuid, user, sessionId, now);
  }

  /** The session leaves the room (the user stays present if another of its sessions is there). */
  leave(roomUuid: string, _user: string, sessionId: string): string[] {
    return this.remove(roomUuid, sessionId) ? [roomUuid] : [];
  }

  /** The session is gone (socket closed, unsubscribed): it leaves every room. */
  dropSession(sessionId: string): string[] {
    const mine = [...(this.roomsBySession.get(sessionId) ?? [])];
    return mine.filter((roomUuid) => this.remove(roomUuid, sessionId));
  }

  /** Sessions not seen for more than `timeoutMs` leave their rooms. */
  expire(now: number, timeoutMs: number): string[] {
    const changed = new Set<string>();
    for (const [roomUuid, room] of [...this.rooms]) {
      for (const [sessionId, member] of [...room.sessions]) {
        if (now - member.lastSeen > timeoutMs && this.remove(roomUuid, sessionId)) changed.add(roomUuid);
      }
    }
    return [...changed];
  }

  /** Logins present in the room, sorted. */
  users(roomUuid: string): string[] {
    return [...(this.rooms.get(roomUuid)?.counts.keys() ?? [])].sort();
  }

  /** Whether the session is in the room (HISTORY and POST are only for members). */
  has(roomUuid: string, sessionId: string): boolean {
    return this.rooms.get(roomUuid)?.sessions.has(sessionId) ?? false;
  }

  /** Rooms the session is in. */
  roomsOf(sessionId: string): string[] {
    return [...(this.roomsBySession.get(sessionId) ?? [])];
  }

  /** Removes the session from the room; true when the room's users changed. */
  private remove(roomUuid: string, sessionId: string): boolean {
    const room = this.rooms.get(roomUuid);
    const member = room?.sessions.get(sessionId);
    if (!room || !member) return false;
    room.sessions.delete(sessionId);
    if (room.sessions.size === 0) this.rooms.delete(roomUuid);
    const mine = this.roomsBySession.get(sessionId);
    mine?.delete(roomUuid);
    if (mine?.size === 0) this.roomsBySession.delete(sessionId);
    const count = (room.counts.get(member.user) ?? 1) - 1;
    if (count > 0) {
      room.counts.set(member.user, count);
      return false;
    }
    room.counts.delete(member.user);
    return true;
  }
}
