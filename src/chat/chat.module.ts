import { Logger, Module, type FactoryProvider } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { BusModule } from '../bus/bus.module.js';
import { MemoryWindowLimiter, RedisWindowLimiter, WindowLimiter } from './window-limiter.js';
import { CONFIG, type Config } from '../config/config.js';
import { MemoryBudget } from '../memory/memory-budget.js';
import { RedisConnections, type RedisClient } from '../redis/redis-connections.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ChatPresence } from './chat-presence.js';
import { ChatRooms } from './chat-rooms.js';
import { ChatStore } from './chat-store.js';
import { ChatTopic } from './chat.topic.js';
import { MemoryChatStore } from './memory-chat-store.js';
import { NodeAccessClient } from './node-access.js';
import { LocalPresenceBoard, PresenceBoard, RedisPresenceBoard } from './presence-board.js';
import { RedisChatStore } from './redis-chat-store.js';

/**
 * The chat's Redis connection (in the configured mode), null when embedded. One, shared by the store, the
 * presence board and the limits: all of them send short commands with the same retry policy,
 * and on one connection the commands about a room reach Redis in the order they were sent
 * (a board write, then the room read of the ROOM_UPDATE built from it; in a cluster too: a
 * room's keys and its presence share a hash slot, hence a node and its connection). Its own, not the
 * bus's: those are in subscriber mode or owned by Nest. RedisConnections closes it at shutdown,
 * after the presence withdrawal.
 */
export const CHAT_REDIS = Symbol('CHAT_REDIS');

const chatRedis: FactoryProvider<RedisClient | null> = {
  provide: CHAT_REDIS,
  inject: [RedisConnections],
  useFactory: (connections: RedisConnections) => {
    if (!connections.enabled) return null;
    const redis = connections.commands({ name: 'chat', maxRetriesPerRequest: 2 });
    const log = new Logger('ChatRedis');
    redis.on('error', (err: Error) => log.warn(`chat Redis: ${err.message}`));
    return redis;
  },
};

/** Rooms and their history: in Redis, so that they survive restarts, or in memory. */
const chatStore: FactoryProvider<ChatStore> = {
  provide: ChatStore,
  inject: [CONFIG, CHAT_REDIS, RedisConnections],
  useFactory: ({ chat }: Config, redis: RedisClient | null, connections: RedisConnections) => {
    const options = { historyLimit: chat.historyLimit, roomTtlMs: chat.roomTtlSeconds * 1000 };
    return redis ? new RedisChatStore(redis, { ...options, prefix: chat.keyPrefix, hashTags: connections.mode === 'cluster' }) : new MemoryChatStore(options);
  },
};

/** Every instance's users per room (this instance writes under an id of its own), or this instance's alone. */
const presenceBoard: FactoryProvider<PresenceBoard> = {
  provide: PresenceBoard,
  inject: [CONFIG, CHAT_REDIS, RedisConnections],
  useFactory: ({ chat }: Config, redis: RedisClient | null, connections: RedisConnections) =>
    redis ? new RedisPresenceBoard(redis, randomUUID(), chat.presenceTimeoutMs, chat.keyPrefix, connections.mode === 'cluster') : new LocalPresenceBoard(),
};

/** The per-user limits (posts, joins, rooms created): across instances in Redis, else per process. */
const windowLimiter: FactoryProvider<WindowLimiter> = {
  provide: WindowLimiter,
  inject: [CONFIG, CHAT_REDIS],
  useFactory: ({ chat }: Config, redis: RedisClient | null) => (redis ? new RedisWindowLimiter(redis, `${chat.keyPrefix}limit:`) : new MemoryWindowLimiter()),
};

/** CHAT_NODE_AUTH_URL: who may read / write a node (NODE rooms). */
const nodeAccess: FactoryProvider<NodeAccessClient> = {
  provide: NodeAccessClient,
  inject: [CONFIG, MemoryBudget],
  useFactory: ({ chat }: Config, memory: MemoryBudget) =>
    new NodeAccessClient({ url: chat.nodeAuthUrl, ttlMs: chat.nodeAuthCacheSeconds * 1000, maxBytes: chat.nodeAuthMaxBytes, reserve: (bytes) => memory.reserve(bytes, 'http_answer') }),
};

/**
 * Chat rooms on `/chat` (PROTOCOL 4): ChatRooms handles the client frames (the chat gateway
 * calls it), ChatPresence who is in which room and the ROOM_UPDATEs, ChatTopic delivers the
 * chat channel's events to the rooms' sessions.
 */
@Module({
  imports: [BusModule, SessionsModule],
  providers: [chatRedis, chatStore, presenceBoard, windowLimiter, nodeAccess, ChatPresence, ChatRooms, ChatTopic],
  exports: [ChatRooms],
})
export class ChatModule {}
