/**
 * ChatStore in Redis, so rooms and history survive a restart of every instance.
 *
 * Keys (prefix default `switchboard:chat:`):
 *   room:<uuid>                          hash: the room's fields, Users as a JSON array
 *   room-key:<Type>:<RoomTypeObject>     string: the room uuid (Type never holds ':')
 *   messages:<roomUuid>                  list: message uuids, oldest first (capped)
 *   message:<roomUuid>                   hash: message uuid -> message JSON
 * Multi-key writes run as Lua scripts or MULTI, so the list and the hash never disagree.
 * Every key of a room expires `roomTtlMs` after the room was last touched (created, joined,
 * posted to, or held by a member: ChatPresence touches the rooms its sessions are in).
 */
import type { Redis } from 'ioredis';
import { DEFAULT_CHAT_HISTORY_LIMIT, DEFAULT_CHAT_ROOM_TTL_MS, type ChatStore, type ChatStoreOptions, type HistoryPage } from './chat-store.js';
import { ROOM_TYPES, type ChatMessage, type ChatRoom, type RoomType } from './chat-types.js';
import { isRecord } from '../common/schema.js';

export interface RedisChatStoreOptions extends ChatStoreOptions {
  prefix?: string;
}

/**
 * Lua: refreshes the expiry of a room's keys. KEYS: room hash, list, message hash.
 * `ttl` and `prefix` are locals set by the including script. The room-key key is derived
 * from the hash (unknown to the caller); a room hash that is gone is left alone.
 */
const TOUCH = `
local fields = redis.call('HMGET', KEYS[1], 'Type', 'RoomTypeObject')
if fields[1] then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', prefix .. 'room-key:' .. fields[1] .. ':' .. (fields[2] or ''), ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end`;

/** KEYS: room hash, list, message hash. ARGV: ttl ms, key prefix. */
const TOUCH_ROOM = `local ttl, prefix = ARGV[1], ARGV[2]\n${TOUCH}`;

/**
 * KEYS: room hash, list, message hash. ARGV: uuid, json, cap, ttl ms, key prefix. Appends
 * (or replaces in place), trims the oldest, touches the room.
 */
const ADD_MESSAGE = `
local ttl, prefix = ARGV[4], ARGV[5]
if redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  local extra = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[3])
  for _ = 1, extra do redis.call('HDEL', KEYS[3], redis.call('LPOP', KEYS[2])) end
end
${TOUCH}`;

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

/** KEYS: room-key, room hash. ARGV: uuid, ttl ms, then the hash's field/value pairs. Returns the winning uuid. */
const CREATE_ROOM = `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return ARGV[1]`;

export class RedisChatStore implements ChatStore {
  private readonly prefix: string;
  private readonly historyLimit: number;
  private readonly roomTtlMs: number;

  /**
   * close() quits `redis`, for a store used on its own; in the service the connection is shared
   * (chat.module.ts) and RedisConnections closes it at shutdown.
   */
  constructor(
    private readonly redis: Redis,
    opts: RedisChatStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'switchboard:chat:';
    this.historyLimit = opts.historyLimit ?? DEFAULT_CHAT_HISTORY_LIMIT;
    this.roomTtlMs = opts.roomTtlMs ?? DEFAULT_CHAT_ROOM_TTL_MS;
  }

  async findRoom(type: RoomType, roomTypeObject: string): Promise<ChatRoom | undefined> {
    const uuid = await this.redis.get(this.roomKeyKey(type, roomTypeObject));
    return uuid === null ? undefined : this.getRoom(uuid);
  }

  async getRoom(uuid: string): Promise<ChatRoom | undefined> {
    return decodeRoom(await this.redis.hgetall(this.roomKey(uuid)));
  }

  async saveRoom(room: ChatRoom): Promise<void> {
    const key = this.roomKey(room.Uuid);
    await this.redis
      .multi()
      .del(key) // so that a dropped RoomLabel does not linger
      .hset(key, encodeRoom(room))
      .pexpire(key, this.roomTtlMs)
      .set(this.roomKeyKey(room.Type, room.RoomTypeObject), room.Uuid, 'PX', this.roomTtlMs)
      .exec();
  }

  async createRoom(room: ChatRoom): Promise<ChatRoom> {
    const fields = Object.entries(encodeRoom(room)).flat();
    const keys = [this.roomKeyKey(room.Type, room.RoomTypeObject), this.roomKey(room.Uuid)];
    const winner = String(await this.redis.eval(CREATE_ROOM, 2, ...keys, room.Uuid, this.roomTtlMs, ...fields));
    if (winner === room.Uuid) return { ...room, Users: [...room.Users] };
    const existing = await this.getRoom(winner);
    if (existing) return existing;
    // The lookup pointed at a room hash that is gone: repair it with ours.
    await this.saveRoom(room);
    return { ...room, Users: [...room.Users] };
  }

  async addMessage(msg: ChatMessage): Promise<void> {
    await this.redis.eval(
      ADD_MESSAGE,
      3,
      ...this.roomKeys(msg.RoomUuid),
      msg.Uuid,
      JSON.stringify(msg),
      this.historyLimit,
      this.roomTtlMs,
      this.prefix,
    );
  }

  async touchRoom(uuid: string): Promise<void> {
    await this.redis.eval(TOUCH_ROOM, 3, ...this.roomKeys(uuid), this.roomTtlMs, this.prefix);
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

  /** The keys TOUCH expects: room hash, message list, message hash. */
  private roomKeys(uuid: string): [string, string, string] {
    return [this.roomKey(uuid), this.listKey(uuid), this.messageKey(uuid)];
  }

  private roomKey(uuid: string): string {
    return `${this.prefix}room:${uuid}`;
  }

  private roomKeyKey(type: RoomType, roomTypeObject: string): string {
    return `${this.prefix}room-key:${type}:${roomTypeObject}`;
  }

  private listKey(roomUuid: string): string {
    return `${this.prefix}messages:${roomUuid}`;
  }

  private messageKey(roomUuid: string): string {
    return `${this.prefix}message:${roomUuid}`;
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
