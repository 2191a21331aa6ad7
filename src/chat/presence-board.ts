/**
 * Room presence shared by every instance (PROTOCOL.md 4, presence).
 *
 * `Presence` knows the users of this instance's sessions. The board merges them across
 * instances: each instance writes its own users per room, and `Room.Users` is the union of
 * every instance's entry. An instance refreshes its entries on each presence sweep; an entry
 * not refreshed within `staleMs` (an instance that crashed) no longer counts.
 */
import type { RedisClient } from '../redis/redis-connections.js';

/** An abstract class rather than an interface: it is also the chat module's injection token. */
export abstract class PresenceBoard {
  /** Records this instance's users in the room ([] withdraws it) and returns the merged users, sorted. */
  abstract write(roomUuid: string, users: string[]): Promise<string[]>;
  /** The merged users of the room, sorted. */
  abstract read(roomUuid: string): Promise<string[]>;
}

/** One instance (no Redis): the union is this instance's own users. */
export class LocalPresenceBoard implements PresenceBoard {
  private readonly rooms = new Map<string, string[]>();

  async write(roomUuid: string, users: string[]): Promise<string[]> {
    if (users.length) this.rooms.set(roomUuid, [...users].sort());
    else this.rooms.delete(roomUuid);
    return this.read(roomUuid);
  }

  async read(roomUuid: string): Promise<string[]> {
    return [...(this.rooms.get(roomUuid) ?? [])];
  }
}

interface Entry {
  /** When the instance last wrote it, epoch ms (instances' clocks are assumed NTP-close). */
  at: number;
  users: string[];
}

/**
 * Key `<prefix>presence:<roomUuid>` (`presence:{<roomUuid>}` in a cluster): a hash of instance id -> `{"at","users"}`. The write and
 * the read run in one MULTI, so each answer is a consistent snapshot that includes our write.
 */
export class RedisPresenceBoard implements PresenceBoard {
  constructor(
    private readonly redis: RedisClient,
    private readonly instanceId: string,
    private readonly staleMs: number,
    private readonly prefix = 'switchboard:chat:',
    /** In a Redis Cluster: the key sits in its room's slot (`presence:{<uuid>}`), next to the room's other keys. */
    private readonly hashTags = false,
  ) {}

  async write(roomUuid: string, users: string[]): Promise<string[]> {
    const key = this.key(roomUuid);
    const now = Date.now();
    const tx = this.redis.multi();
    if (users.length) {
      // The key outlives a crashed last instance only briefly.
      tx.hset(key, this.instanceId, JSON.stringify({ at: now, users })).pexpire(key, this.staleMs * 2);
    } else {
      tx.hdel(key, this.instanceId);
    }
    tx.hgetall(key);
    const replies = await tx.exec();
    const [err, entries] = replies?.at(-1) ?? [new Error('presence write aborted')];
    if (err) throw err;
    return this.merge(key, entries as Record<string, string>, now);
  }

  async read(roomUuid: string): Promise<string[]> {
    const key = this.key(roomUuid);
    return this.merge(key, await this.redis.hgetall(key), Date.now());
  }

  private merge(key: string, entries: Record<string, string>, now: number): string[] {
    const users = new Set<string>();
    const stale: string[] = [];
    for (const [instance, json] of Object.entries(entries)) {
      const entry = parseEntry(json);
      if (!entry || now - entry.at > this.staleMs) stale.push(instance);
      else for (const u of entry.users) users.add(u);
    }
    // Leftovers of instances gone without withdrawing. Should one have only paused, its
    // next refresh writes the entry back and the sweeps publish the correction.
    if (stale.length) this.redis.hdel(key, ...stale).catch(() => undefined);
    return [...users].sort();
  }

  private key(roomUuid: string): string {
    return `${this.prefix}presence:${this.hashTags ? `{${roomUuid}}` : roomUuid}`;
  }
}

function parseEntry(json: string): Entry | undefined {
  try {
    const e = JSON.parse(json) as Partial<Entry>;
    if (typeof e.at !== 'number' || !Array.isArray(e.users)) return undefined;
    return { at: e.at, users: e.users.filter((u): u is string => typeof u === 'string') };
  } catch {
    return undefined;
  }
}
