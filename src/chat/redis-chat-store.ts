/**
 * ChatStore in Redis, so rooms and history survive a restart of every instance.
 *
 * Keys (prefix default `switchboard:chat:`; `<tag>` is the room uuid, `{<uuid>}` in a Redis
 * Cluster so that a room's own keys hash to one slot):
 *   room:<tag>                           hash: the room's fields, Users as a JSON array
 *   messages:<tag>                       list: message uuids, oldest first (capped)
 *   message:<tag>                        hash: message uuid -> message JSON
 *   seq:<tag>                            string: the last Seq given out in the room (INCR)
 *   room-key:<Type>:<RoomTypeObject>     string: the room uuid (Type never holds ':'); an index
 *                                        in a slot of its own, only ever read or written alone
 * Writes to a room's own keys run as Lua scripts or MULTI, so the list and the hash never
 * disagree. A room hash is written before its index entry, so an index entry never points at
 * a room not yet written. Every key of a room expires `roomTtlMs` after the room was last
 * touched (created, joined, posted to, or held by a member: ChatPresence touches the rooms its
 * sessions are in); the index entry's expiry is refreshed by a second command right after.
 */
import { DEFAULT_CHAT_HISTORY_LIMIT, DEFAULT_CHAT_ROOM_TTL_MS, type ChatStore, type ChatStoreOptions, type HistoryPage } from './chat-store.js';
import { ROOM_TYPES, type ChatMessage, type ChatRoom, type RoomType } from './chat-types.js';
import { isRecord } from '../common/schema.js';
import type { RedisClient } from '../redis/redis-connections.js';

export interface RedisChatStoreOptions extends ChatStoreOptions {
  prefix?: string;
  /** Put each room's keys under a hash tag of its uuid (Redis Cluster). */
  hashTags?: boolean;
}

/**
 * Lua: refreshes the expiry of a room's own keys and answers the room's Type and
 * RoomTypeObject (the index entry to refresh next), or nothing when the room hash is gone.
 * KEYS: room hash, list, message hash, seq; `ttl` is a local set by the including script.
 */
const TOUCH = `
local fields = redis.call('HMGET', KEYS[1], 'Type', 'RoomTypeObject')
if not fields[1] then return false end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('PEXPIRE', KEYS[4], ttl)
return {fields[1], fields[2] or ''}`;

/** KEYS: room hash, list, message hash, seq. ARGV: ttl ms. */
const TOUCH_ROOM = `local ttl = ARGV[1]\n${TOUCH}`;

/**
 * KEYS: room hash, list, message hash, seq. ARGV: uuid, json without its Seq (ending in `}`),
 * cap, ttl ms. Appends with the room's next Seq (or replaces in place, keeping the Seq), trims
 * the oldest, touches the room. Returns {Seq, the TOUCH answer}.
 */
const ADD_MESSAGE = `
local ttl = ARGV[4]
local seq
local old = redis.call('HGET', KEYS[3], ARGV[1])
if old then
  seq = tonumber(string.match(old, ',"Seq":(%d+)}$')) or 0
else
  seq = redis.call('INCR', KEYS[4])
end
local json = string.sub(ARGV[2], 1, -2) .. ',"Seq":' .. seq .. '}'
if redis.call('HSET', KEYS[3], ARGV[1], json) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  local extra = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[3])
  for _ = 1, extra do redis.call('HDEL', KEYS[3], redis.call('LPOP', KEYS[2])) end
end
local function touch()
${TOUCH}
end
return {seq, touch()}`;

/** KEYS: list, hash. ARGV: start, end (inclusive). The messages of that list range, oldest first. */
const LIST_MESSAGES = `
local ids = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))`;

/**
 * LIST_MESSAGES within a byte bound (ARGV[3]): of the window, the newest messages whose JSON
 * fits, the newest always (fitNewest in chat-store.ts), so that the reply stays within the
 * bound. Returns {bytes, cut (0 or 1), message...}, oldest first.
 */
const LIST_PAGE = `
local ids = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])
if #ids == 0 then return {0, 0} end
local found = redis.call('HMGET', KEYS[2], unpack(ids))
local max, bytes, start = tonumber(ARGV[3]), 0, #found + 1
while start > 1 do
  local m = found[start - 1]
  local n = m and #m or 0
  if start <= #found and bytes + n > max then break end
  bytes = bytes + n
  start = start - 1
end
local out = {bytes, start > 1 and 1 or 0}
for i = start, #found do
  if found[i] then out[#out + 1] = found[i] end
end
return out`;

export class RedisChatStore implements ChatStore {
  private readonly prefix: string;
  private readonly historyLimit: number;
  private readonly roomTtlMs: number;
  private readonly hashTags: boolean;

  /**
   * close() quits `redis`, for a store used on its own; in the service the connection is shared
   * (chat.module.ts) and RedisConnections closes it at shutdown.
   */
  constructor(
    private readonly redis: RedisClient,
    opts: RedisChatStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'switchboard:chat:';
    this.historyLimit = opts.historyLimit ?? DEFAULT_CHAT_HISTORY_LIMIT;
    this.roomTtlMs = opts.roomTtlMs ?? DEFAULT_CHAT_ROOM_TTL_MS;
    this.hashTags = opts.hashTags ?? false;
  }

  async findRoom(type: RoomType, roomTypeObject: string): Promise<ChatRoom | undefined> {
    const uuid = await this.redis.get(this.roomKeyKey(type, roomTypeObject));
    return uuid === null ? undefined : this.getRoom(uuid);
  }

  async getRoom(uuid: string): Promise<ChatRoom | undefined> {
    return decodeRoom(await this.redis.hgetall(this.roomKey(uuid)));
  }

  async saveRoom(room: ChatRoom): Promise<void> {
    await this.writeRoom(room);
    await this.redis.set(this.roomKeyKey(room.Type, room.RoomTypeObject), room.Uuid, 'PX', this.roomTtlMs);
  }

  /**
   * The room hash first, then its index entry if there is none: a concurrent creator of the
   * same room that loses finds the winner's hash already written, and drops its own.
   */
  async createRoom(room: ChatRoom): Promise<ChatRoom> {
    await this.writeRoom(room);
    const indexKey = this.roomKeyKey(room.Type, room.RoomTypeObject);
    if ((await this.redis.set(indexKey, room.Uuid, 'PX', this.roomTtlMs, 'NX')) === 'OK') return { ...room, Users: [...room.Users] };
    const winner = await this.redis.get(indexKey);
    if (winner !== room.Uuid) await this.redis.del(this.roomKeys(room.Uuid));
    const existing = winner === null ? undefined : await this.getRoom(winner);
    if (existing) return existing;
    // The index pointed at a room hash that is gone (or at nothing any more): repair it with ours.
    await this.saveRoom(room);
    return { ...room, Users: [...room.Users] };
  }

  async addMessage(msg: ChatMessage): Promise<ChatMessage> {
    const { Seq: _ignored, ...fields } = msg;
    const [seq, ref] = (await this.redis.eval(ADD_MESSAGE, 4, ...this.roomKeys(msg.RoomUuid), msg.Uuid, JSON.stringify(fields), this.historyLimit, this.roomTtlMs)) as [number, unknown];
    await this.touchIndex(ref);
    return { ...fields, Seq: Number(seq) };
  }

  async touchRoom(uuid: string): Promise<void> {
    await this.touchIndex(await this.redis.eval(TOUCH_ROOM, 4, ...this.roomKeys(uuid), this.roomTtlMs));
  }

  async listMessages(roomUuid: string, offset: number, limit: number): Promise<ChatMessage[]> {
    // Never more than the cap: the ids are unpacked onto the Lua stack.
    const count = Math.min(limit, this.historyLimit);
    if (count <= 0) return [];
    // Negative indexes count back from the newest; Redis clamps a start before the oldest.
    const from = Math.max(0, offset);
    const reply = await this.redis.eval(
      LIST_MESSAGES,
      2,
      this.listKey(roomUuid),
      this.messageKey(roomUuid),
      -(from + count),
      -(from + 1),
    );
    return (Array.isArray(reply) ? reply : []).flatMap((json) => decodeMessage(json) ?? []);
  }

  async listPage(roomUuid: string, offset: number, limit: number, maxBytes: number): Promise<HistoryPage> {
    const count = Math.min(limit, this.historyLimit);
    if (count <= 0) return { messages: [], bytes: 0, cut: false };
    const from = Math.max(0, offset);
    const reply = await this.redis.eval(
      LIST_PAGE,
      2,
      this.listKey(roomUuid),
      this.messageKey(roomUuid),
      -(from + count),
      -(from + 1),
      Math.min(maxBytes, Number.MAX_SAFE_INTEGER),
    );
    const [bytes, cut, ...found] = Array.isArray(reply) ? reply : [0, 0];
    return { messages: found.flatMap((json) => decodeMessage(json) ?? []), bytes: Number(bytes), cut: cut === 1 };
  }

  async getMessage(roomUuid: string, uuid: string): Promise<ChatMessage | undefined> {
    return decodeMessage(await this.redis.hget(this.messageKey(roomUuid), uuid));
  }

  async deleteMessage(roomUuid: string, uuid: string): Promise<boolean> {
    const replies = await this.redis
      .multi()
      .hdel(this.messageKey(roomUuid), uuid)
      .lrem(this.listKey(roomUuid), 0, uuid)
      .exec();
    return replies?.[0]?.[1] === 1;
  }

  /** QUIT when connected; a Redis that is gone cannot answer it, so just drop the socket. */
  async close(): Promise<void> {
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  /** The room hash alone (MULTI on its slot), with the room's expiry; a dropped RoomLabel does not linger. */
  private async writeRoom(room: ChatRoom): Promise<void> {
    const key = this.roomKey(room.Uuid);
    await this.redis.multi().del(key).hset(key, encodeRoom(room)).pexpire(key, this.roomTtlMs).exec();
  }

  /** After a TOUCH: the room's index entry lives as long as the room. */
  private async touchIndex(ref: unknown): Promise<void> {
    if (!Array.isArray(ref) || ref.length !== 2) return;
    const type = ROOM_TYPES.find((t) => t === ref[0]);
    if (type) await this.redis.pexpire(this.roomKeyKey(type, String(ref[1])), this.roomTtlMs);
  }

  /** The keys TOUCH expects: room hash, message list, message hash, seq. */
  private roomKeys(uuid: string): [string, string, string, string] {
    return [this.roomKey(uuid), this.listKey(uuid), this.messageKey(uuid), `${this.prefix}seq:${this.tag(uuid)}`];
  }

  /** A room's own keys end in this: its uuid, hash-tagged in a cluster. */
  private tag(uuid: string): string {
    return this.hashTags ? `{${uuid}}` : uuid;
  }

  private roomKey(uuid: string): string {
    return `${this.prefix}room:${this.tag(uuid)}`;
  }

  private roomKeyKey(type: RoomType, roomTypeObject: string): string {
    return `${this.prefix}room-key:${type}:${roomTypeObject}`;
  }

  private listKey(roomUuid: string): string {
    return `${this.prefix}messages:${this.tag(roomUuid)}`;
  }

  private messageKey(roomUuid: string): string {
    return `${this.prefix}message:${this.tag(roomUuid)}`;
  }
}

function encodeRoom(room: ChatRoom): Record<string, string> {
  const fields: Record<string, string> = {
    Uuid: room.Uuid,
    Type: room.Type,
    RoomTypeObject: room.RoomTypeObject,
    Users: JSON.stringify(room.Users),
    LastUpdated: room.LastUpdated,
  };
  if (room.RoomLabel !== undefined) fields.RoomLabel = room.RoomLabel;
  return fields;
}

/** A hash that is missing or damaged reads as no room. */
function decodeRoom(h: Record<string, string>): ChatRoom | undefined {
  const type = ROOM_TYPES.find((t) => t === h.Type);
  if (!h.Uuid || !type) return undefined;
  const room: ChatRoom = {
    Uuid: h.Uuid,
    Type: type,
    RoomTypeObject: h.RoomTypeObject ?? '',
    Users: parseUsers(h.Users),
    LastUpdated: h.LastUpdated ?? '0',
  };
  if (h.RoomLabel !== undefined) room.RoomLabel = h.RoomLabel;
  return room;
}

function parseUsers(json: string | undefined): string[] {
  try {
    const users: unknown = JSON.parse(json ?? '[]');
    return Array.isArray(users) ? users.filter((u): u is string => typeof u === 'string') : [];
  } catch {
    return [];
  }
}

function decodeMessage(json: unknown): ChatMessage | undefined {
  if (typeof json !== 'string') return undefined;
  try {
    const m: unknown = JSON.parse(json);
    return isRecord(m) && typeof m.Uuid === 'string' ? (m as unknown as ChatMessage) : undefined;
  } catch {
    return undefined;
  }
}
