import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Revocations } from '../auth/revocations.js';
import { Metrics } from '../metrics/metrics.js';
import { errorFrame } from '../protocol/frames.js';
import type { AdminQuery, DisconnectPart, PartOf, PresencePart, SessionInfo, SessionsPart, StatsPart } from '../protocol/admin.js';
import { ChatSessions, EventSessions } from '../sessions/endpoints.js';
import type { SessionHost } from '../sessions/session-host.js';
import type { Session } from '../sessions/session.js';

/** A session whose socket is closing is gone for the operator, though the registry still holds it until the close completes. */
const isOpen = (session: Session): boolean => session.socket.readyState === session.socket.OPEN;

/** How often the event counters are sampled, and how far back a rate looks. */
const SAMPLE_MS = 5000;
const WINDOW_MS = 30_000;

interface Sample {
  at: number;
  counts: Map<string, number>;
}

/**
 * This instance's answers to the server API (docs/protocol.md 10): its sessions, who is in a
 * room here, closing matching sessions, its counters. The cluster (AdminCluster) asks every
 * instance, this one included, and merges. Reads the hosts' registries; closes through the hosts.
 */
@Injectable()
export class InstanceAdmin implements OnModuleDestroy {
  private readonly log = new Logger(InstanceAdmin.name);
  private readonly hosts: readonly SessionHost[];
  private readonly started = Date.now();
  private readonly samples: Sample[] = [];
  private readonly sampler: NodeJS.Timeout;

  constructor(
    events: EventSessions,
    chat: ChatSessions,
    private readonly revocations: Revocations,
    private readonly metrics: Metrics,
  ) {
    this.hosts = [events, chat];
    void this.sample();
    this.sampler = setInterval(() => void this.sample(), SAMPLE_MS);
    this.sampler.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sampler);
  }

  answer<Q extends AdminQuery>(query: Q): Promise<PartOf<Q['op']>>;
  async answer(query: AdminQuery): Promise<SessionsPart | PresencePart | DisconnectPart | StatsPart> {
    switch (query.op) {
      case 'sessions':
        return this.sessions(query.user, query.limit);
      case 'presence':
        return this.presence(query.room, query.limit);
      case 'disconnect':
        return this.disconnect(query);
      case 'stats':
        return this.stats();
    }
  }

  /** Subscribed sessions, of one user or of all; the count is whole, the list at most `limit`. */
  private sessions(user: string | undefined, limit: number): SessionsPart {
    let count = 0;
    const sessions: SessionInfo[] = [];
    for (const host of this.hosts) {
      const matching = user === undefined ? host.registry.all() : host.registry.withKeys([`user:${user}`]);
      for (const session of matching) {
        const identity = session.identity;
        if (!identity || !isOpen(session)) continue;
        count++;
        if (sessions.length < limit) {
          sessions.push({ sessionId: session.id, endpoint: session.endpoint, user: identity.user, profile: identity.profile, expiresAt: identity.exp, rooms: session.rooms.size });
        }
      }
    }
    return { count, sessions };
  }

  /** Sessions in the push room (`/ws`) or chat room (`/chat`, by its Uuid) named `room`. */
  private presence(room: string, limit: number): PresencePart {
    let count = 0;
    const sessions: PresencePart['sessions'] = [];
    const users = new Set<string>();
    for (const host of this.hosts) {
      for (const session of host.registry.withKeys([`room:${room}`])) {
        if (!session.identity || !isOpen(session)) continue;
        count++;
        if (users.size < limit) users.add(session.identity.user);
        if (sessions.length < limit) sessions.push({ sessionId: session.id, endpoint: session.endpoint, user: session.identity.user });
      }
    }
    return { count, users: [...users].sort(), sessions };
  }

  /**
   * Closes the user's sessions (both endpoints) or the one session, each after an error frame
   * `disconnected` that says why. For a user, its tokens issued up to `at` are refused first
   * (Revocations: shared in Redis too), so that a client reconnecting at once, to any
   * instance, is refused.
   */
  private async disconnect(query: Extract<AdminQuery, { op: 'disconnect' }>): Promise<DisconnectPart> {
    const { user, session: id, code, reason, at } = query;
    if (user !== undefined) await this.revocations.revoke({ login: user }, at);
    let closed = 0;
    for (const host of this.hosts) {
      const matching: Session[] = user !== undefined ? [...host.registry.withKeys([`user:${user}`])] : [host.registry.get(id!)].filter((s) => s !== undefined);
      for (const session of matching) {
        session.reply(errorFrame('disconnected', reason));
        host.close(session, code, reason);
        closed++;
      }
    }
    if (closed) this.log.log({ msg: 'disconnected by the server API', user, sessionId: id, closed, code });
    return { closed };
  }

  private async stats(): Promise<StatsPart> {
    const [events, chat] = this.hosts.map((host) => {
      let subscribed = 0;
      for (const session of host.registry.all()) if (session.identity && isOpen(session)) subscribed++;
      return { connections: host.registry.size, sessions: subscribed };
    });
    const now = { at: Date.now(), counts: await this.counts() };
    const since = this.samples.find((s) => now.at - s.at <= WINDOW_MS + SAMPLE_MS) ?? now;
    const seconds = (now.at - since.at) / 1000;
    const eventsPerSecond: Record<string, number> = {};
    for (const [topic, count] of now.counts) eventsPerSecond[topic] = seconds > 0 ? Math.round(((count - (since.counts.get(topic) ?? 0)) / seconds) * 100) / 100 : 0;
    return {
      connections: { events: events.connections, chat: chat.connections },
      sessions: { events: events.sessions, chat: chat.sessions },
      eventsPerSecond,
      uptimeSeconds: Math.round((now.at - this.started) / 1000),
    };
  }

  /** Bus events received so far, per topic (switchboard_bus_events_total). */
  private async counts(): Promise<Map<string, number>> {
    const { values } = await this.metrics.busEvents.get();
    return new Map(values.map((v) => [String(v.labels.topic), v.value]));
  }

  private async sample(): Promise<void> {
    try {
      this.samples.push({ at: Date.now(), counts: await this.counts() });
      while (this.samples.length > WINDOW_MS / SAMPLE_MS + 1) this.samples.shift();
    } catch (err) {
      this.log.warn(`event counters not readable: ${(err as Error).message}`);
    }
  }
}
