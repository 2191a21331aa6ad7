import { Injectable } from '@nestjs/common';
import type { Delivery } from '../bus/topic.js';
import { withOffset } from '../bus/topic.js';
import { EventSessions } from '../sessions/endpoints.js';
import { Fanout } from '../sessions/fanout.js';
import type { Session } from '../sessions/session.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { Audience } from './task.topic.js';

/**
 * How every `/ws` topic hands its frames over: live, through the fan-out to this instance's
 * sessions; in a replay (PROTOCOL 6), into the one resuming session's frames.
 */
@Injectable()
export class TopicDelivery {
  constructor(
    private readonly sessions: EventSessions,
    private readonly fanout: Fanout,
  ) {}

  /** Every `/ws` session of this instance, or the one resuming session of a replay. */
  registry(delivery: Delivery): SessionRegistry {
    return delivery.replay?.registry ?? this.sessions.registry;
  }

  /** One serialized frame to its sessions. */
  send(delivery: Delivery, sessions: Iterable<Session>, data: string, topic: string, receivedAt?: number): void {
    const { replay } = delivery;
    if (!replay) return this.fanout.send(sessions, data, topic, receivedAt, delivery.offset?.id);
    for (const s of sessions) if (s === replay.session) return void replay.frames.push({ data, topic });
  }

  /** A frame for the sessions holding any of the audience's keys, with the event's `@offset`. */
  sendToAudience(topic: string, { keys, frame }: Audience, delivery: Delivery): void {
    const sessions = keys.length ? this.registry(delivery).withKeys(keys) : [];
    this.send(delivery, sessions, JSON.stringify(withOffset(frame, delivery.offset)), topic);
  }
}
