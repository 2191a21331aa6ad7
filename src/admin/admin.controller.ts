import { BadRequestException, Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import type * as z from 'zod';
import { parseWith, SchemaError } from '../common/schema.js';
import { AdminLimit, AdminRoom, AdminUser, DisconnectBody, type SessionInfo, type StatsPart } from '../protocol/admin.js';
import { AdminCluster, type Gathered } from './admin-cluster.js';
import { AdminKeyGuard } from './admin-key.guard.js';

/** Which instances answered: an answer without some of them is `partial` (they were slow, or Redis was). */
function coverage(gathered: Gathered<unknown>) {
  const { parts, missing } = gathered;
  return { answered: parts.map((p) => p.instance), missing, partial: missing !== 0 };
}

/** A query parameter, path parameter or body through its schema; a 400 that names the field otherwise. */
function read<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  try {
    return parseWith(schema, raw, what);
  } catch (err) {
    if (err instanceof SchemaError) throw new BadRequestException(err.message);
    throw err;
  }
}

/**
 * The server API (docs/protocol.md 10; Centrifugo's server API, AnyCable's disconnect): see
 * and cut sessions across every instance, with `Authorization: Bearer $ADMIN_API_KEY`. Each
 * answer is gathered from every instance within ADMIN_TIMEOUT_MS and says which answered.
 */
@Controller('api')
@UseGuards(AdminKeyGuard)
export class AdminController {
  constructor(private readonly cluster: AdminCluster) {}

  /** `GET /api/sessions?user=<login>&limit=<n>`: the user's subscribed sessions (all users' without `user`). */
  @Get('sessions')
  async sessions(@Query('user') rawUser: unknown, @Query('limit') rawLimit: unknown) {
    const user = read(AdminUser.optional(), rawUser, 'user');
    const limit = read(AdminLimit, rawLimit, 'limit');
    const gathered = await this.cluster.gather({ op: 'sessions', user, limit });
    const count = gathered.parts.reduce((n, { part }) => n + part.count, 0);
    const sessions: (SessionInfo & { instance: string })[] = gathered.parts.flatMap(({ instance, part }) => part.sessions.map((s) => ({ ...s, instance }))).slice(0, limit);
    return { ...(user !== undefined && { user }), count, sessions, truncated: count > sessions.length, ...coverage(gathered) };
  }

  /** `GET /api/rooms/<room>/presence`: who is in the push room, or the chat room of that Uuid. */
  @Get('rooms/:room/presence')
  async presence(@Param('room') rawRoom: unknown, @Query('limit') rawLimit: unknown) {
    const room = read(AdminRoom, rawRoom, 'room');
    const limit = read(AdminLimit, rawLimit, 'limit');
    const gathered = await this.cluster.gather({ op: 'presence', room, limit });
    const count = gathered.parts.reduce((n, { part }) => n + part.count, 0);
    const users = [...new Set(gathered.parts.flatMap(({ part }) => part.users))].sort().slice(0, limit);
    const sessions = gathered.parts.flatMap(({ instance, part }) => part.sessions.map((s) => ({ ...s, instance }))).slice(0, limit);
    return { room, count, users, sessions, truncated: count > sessions.length, ...coverage(gathered) };
  }

  /**
   * `POST /api/disconnect {"user"|"session", "code"?, "reason"?}`: every instance closes the
   * matching sockets; for a user, its tokens issued up to now are refused from now on.
   */
  @Post('disconnect')
  @HttpCode(200)
  async disconnect(@Body() rawBody: unknown) {
    const body = read(DisconnectBody, rawBody, 'body');
    const gathered = await this.cluster.gather({ op: 'disconnect', ...body, at: Date.now() });
    const disconnected = gathered.parts.reduce((n, { part }) => n + part.closed, 0);
    return { ...(body.user !== undefined ? { user: body.user, revoked: true } : { session: body.session }), disconnected, ...coverage(gathered) };
  }

  /** `GET /api/stats`: connections and sessions per endpoint and instance, bus events per topic per second. */
  @Get('stats')
  async stats() {
    const gathered = await this.cluster.gather({ op: 'stats' });
    const instances = gathered.parts.map(({ instance, part }) => ({ instance, ...part }));
    const total = (pick: (p: StatsPart) => { events: number; chat: number }) => ({
      events: gathered.parts.reduce((n, { part }) => n + pick(part).events, 0),
      chat: gathered.parts.reduce((n, { part }) => n + pick(part).chat, 0),
    });
    // Every instance receives every event: the cluster's rate is what one instance sees (the highest).
    const eventsPerSecond: Record<string, number> = {};
    for (const { part } of gathered.parts) for (const [topic, rate] of Object.entries(part.eventsPerSecond)) eventsPerSecond[topic] = Math.max(eventsPerSecond[topic] ?? 0, rate);
    return { connections: total((p) => p.connections), sessions: total((p) => p.sessions), eventsPerSecond, instances, ...coverage(gathered) };
  }
}
