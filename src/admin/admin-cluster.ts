import { Inject, Injectable, Logger, ServiceUnavailableException, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { hostname } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
import { CONFIG, type Config } from '../config/config.js';
import { RedisConnections, type RedisClient } from '../redis/redis-connections.js';
import { AdminReply, AdminRequest, PART_OF, type AdminQuery, type PartOf } from '../protocol/admin.js';
import { InstanceAdmin } from './instance-admin.js';

/** Requests of this instance waiting for replies at once; beyond: 503. */
const MAX_PENDING = 64;
/** How long the start waits for the subscription (Redis down: the service starts anyway). */
const SUBSCRIBE_WAIT_MS = 2000;
/** A request or reply on Redis larger than this is dropped unread (the parts are bounded far below). */
const MAX_MESSAGE_CHARS = 2 * 1024 * 1024;

/** The instances' parts of one answer. `missing` is how many did not answer in time; null when unknown (Redis unreachable). */
export interface Gathered<P> {
  parts: { instance: string; part: P }[];
  missing: number | null;
}

interface Pending {
  op: AdminQuery['op'];
  parts: { instance: string; part: unknown }[];
  /** How many other instances received the request; unknown until PUBLISH answers. */
  expected?: number;
  done: () => void;
}

/**
 * Asks every instance a server API question and gathers their parts (docs/protocol.md 10).
 * With Redis: the request is PUBLISHed on ADMIN_CHANNEL, which every instance subscribes to;
 * PUBLISH answers how many received it, so the asker knows how many replies to wait for. Each
 * replies on the asker's own channel (`<ADMIN_CHANNEL>.reply.<instance>`). The answer goes out
 * when all replied, or at ADMIN_TIMEOUT_MS with the parts that came (partial). This instance
 * answers itself directly. Its own two connections (a subscriber cannot publish); the Bus is
 * not involved. Embedded: this instance alone.
 */
@Injectable()
export class AdminCluster implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger(AdminCluster.name);
  /** This instance's name in the answers: the host name (the pod's, in Kubernetes) and a random suffix. */
  readonly instance = `${hostname().replace(/[^\w.-]/g, '_').slice(0, 60)}-${randomBytes(3).toString('hex')}`;
  private readonly replyChannel: string;
  private readonly pending = new Map<string, Pending>();
  private sub?: RedisClient;
  private pub?: RedisClient;
  /**
   * On a Redis Cluster the channels are shard channels (SSUBSCRIBE/SPUBLISH): every instance's
   * subscription to ADMIN_CHANNEL sits on the one master of its slot, so the count a publish
   * answers is every instance's (a classic PUBLISH counts the subscribers of one node only).
   */
  private sharded = false;
  /** What was dropped and logged already: logged once per reason. */
  private readonly warned = new Set<string>();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly connections: RedisConnections,
    private readonly local: InstanceAdmin,
  ) {
    this.replyChannel = `${config.admin.channel}.reply.${this.instance}`;
  }

  async onModuleInit(): Promise<void> {
    if (!this.connections.enabled) return;
    this.sharded = this.connections.mode === 'cluster';
    this.pub = this.connections.commands({ name: 'admin-pub', maxRetriesPerRequest: 1, commandTimeout: this.config.admin.timeoutMs, enableOfflineQueue: false });
    this.sub = this.sharded ? this.connections.shardedSubscriber({ name: 'admin-sub' }) : this.connections.subscriber({ name: 'admin-sub', maxRetriesPerRequest: null });
    for (const redis of [this.pub, this.sub]) {
      redis.on('error', (err: Error) => this.warnOnce('redis', `server API Redis: ${err.message}`));
      redis.on('ready', () => this.warned.delete('redis')); // logged once per outage
    }
    this.sub.on(this.sharded ? 'smessage' : 'message', (channel: string, text: string) => this.message(channel, text));
    // ioredis subscribes again by itself after a reconnect; shard channels one by one (their slots differ).
    const channels = [this.config.admin.channel, this.replyChannel];
    const sub = this.sub;
    const subscribed = (this.sharded ? Promise.all(channels.map((c) => sub.ssubscribe(c))) : sub.subscribe(...channels)).catch((err: Error) =>
      this.warnOnce('redis', `server API not subscribed: ${err.message}`),
    );
    // Before the app listens, when Redis is there: an instance that serves is one that answers. Not for ever when it is not.
    await Promise.race([subscribed, new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref())]);
  }

  onModuleDestroy(): void {
    for (const p of this.pending.values()) p.done();
  }

  /** Every instance's part, this one's first; within ADMIN_TIMEOUT_MS whatever the others do. */
  async gather<Q extends AdminQuery>(query: Q): Promise<Gathered<PartOf<Q['op']>>> {
    // Before anything is done here: a refused request must have closed no socket.
    if (this.pending.size >= MAX_PENDING) throw new ServiceUnavailableException('too many server API requests at once');
    const mine = { instance: this.instance, part: await this.local.answer(query) };
    if (!this.pub) return { parts: [mine], missing: 0 };
    const id = randomUUID();
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const pending: Pending = { op: query.op, parts: [], done: finish };
    this.pending.set(id, pending);
    const timer = setTimeout(finish, this.config.admin.timeoutMs);
    try {
      const receivers = await this.publish(this.config.admin.channel, JSON.stringify({ id, from: this.instance, query } satisfies AdminRequest));
      // Our own subscriber counts among the receivers while it is connected; it ignores the request.
      pending.expected = Math.max(0, receivers - (this.sub?.status === 'ready' ? 1 : 0));
      if (pending.parts.length >= pending.expected) finish();
      await finished;
      return { parts: [mine, ...(pending.parts as Gathered<PartOf<Q['op']>>['parts'])], missing: Math.max(0, pending.expected - pending.parts.length) };
    } catch (err) {
      this.warnOnce('publish', `server API request not published: ${(err as Error).message}`);
      return { parts: [mine], missing: null };
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  /** How many subscribers received it. */
  private publish(channel: string, text: string): Promise<number> {
    if (!this.pub) return Promise.resolve(0);
    return (this.sharded ? this.pub.spublish(channel, text) : this.pub.publish(channel, text)) as Promise<number>;
  }

  private message(channel: string, text: string): void {
    if (text.length > MAX_MESSAGE_CHARS) return this.warnOnce('large', `server API message over ${MAX_MESSAGE_CHARS} characters on ${channel} dropped`);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.warnOnce('json', `server API message that is not JSON on ${channel} dropped`);
    }
    if (channel === this.replyChannel) return this.reply(raw);
    if (channel === this.config.admin.channel) void this.request(raw);
  }

  /** Another instance asks: answer it on its reply channel. */
  private async request(raw: unknown): Promise<void> {
    const parsed = AdminRequest.safeParse(raw);
    if (!parsed.success) return this.warnOnce('request', 'server API request that does not fit its schema dropped');
    const { id, from, query } = parsed.data;
    if (from === this.instance) return;
    try {
      const part = await this.local.answer(query);
      await this.publish(`${this.config.admin.channel}.reply.${from}`, JSON.stringify({ id, instance: this.instance, part } satisfies AdminReply));
    } catch (err) {
      this.warnOnce('answer', `server API answer failed: ${(err as Error).message}`);
    }
  }

  private reply(raw: unknown): void {
    const parsed = AdminReply.safeParse(raw);
    if (!parsed.success) return this.warnOnce('reply', 'server API reply that does not fit its schema dropped');
    const { id, instance, part } = parsed.data;
    const pending = this.pending.get(id);
    if (!pending || pending.parts.some((p) => p.instance === instance)) return; // late, or twice
    const checked = PART_OF[pending.op].safeParse(part);
    if (!checked.success) return this.warnOnce('part', `server API part from ${instance} that does not fit its schema dropped`);
    pending.parts.push({ instance, part: checked.data });
    if (pending.expected !== undefined && pending.parts.length >= pending.expected) pending.done();
  }

  private warnOnce(reason: string, message: string): void {
    if (this.warned.has(reason)) return;
    this.warned.add(reason);
    this.log.warn(message);
  }
}
