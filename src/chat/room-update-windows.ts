/**
 * At most one ROOM_UPDATE per room per window (PROTOCOL.md 4, presence), so that a room
 * filling up with n users costs O(n) frames, not one update to every member per join.
 *
 * The first change of a quiet room goes out at once and opens the room's window; changes
 * during the window are due, and go out together when it ends, opening the next window.
 * Timers only: what "goes out" means (reading the users as they are then) is `flush`'s.
 */
export class RoomUpdateWindows {
  /** Rooms whose window is open -> whether a change waits for its end. */
  private readonly open = new Map<string, { due: boolean; timer: NodeJS.Timeout }>();

  /** `windowMs` 0: every change goes out at once (no coalescing). */
  constructor(
    private readonly windowMs: number,
    private readonly flush: (roomUuid: string) => void,
  ) {}

  /** A change in the room: true when the caller sends it now, false when it waits for the end of the window. */
  request(roomUuid: string): boolean {
    if (this.windowMs <= 0) return true;
    const window = this.open.get(roomUuid);
    if (window) {
      window.due = true;
      return false;
    }
    this.start(roomUuid);
    return true;
  }

  /** Rooms with an open window (bounded by the rooms that changed in the last two windows). */
  get size(): number {
    return this.open.size;
  }

  /** Shutdown: what is due is dropped. */
  clear(): void {
    for (const { timer } of this.open.values()) clearTimeout(timer);
    this.open.clear();
  }

  private start(roomUuid: string): void {
    const timer = setTimeout(() => this.end(roomUuid), this.windowMs);
    timer.unref();
    this.open.set(roomUuid, { due: false, timer });
  }

  private end(roomUuid: string): void {
    const due = this.open.get(roomUuid)?.due;
    this.open.delete(roomUuid);
    if (!due) return;
    this.start(roomUuid);
    this.flush(roomUuid);
  }
}
