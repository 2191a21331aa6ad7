/** The task topic (PROTOCOL.md 3.3): audience (pure) and handler; the schema is in src/protocol/events.ts. */
import { Injectable } from '@nestjs/common';
import { Topic, type Delivery, type TopicHandler } from '../bus/topic.js';
import { checkWith } from '../common/schema.js';
import { TaskChangeEvent } from '../protocol/events.js';
import { TopicDelivery } from './topic-delivery.js';

/** The login that owns system jobs; their progress is shown to admins. */
export const SYSTEM_USER = 'pydio.system.user';

export type { TaskChangeEvent } from '../protocol/events.js';

/** Who receives a topic frame; shared by the task, IDM and activity topics. */
export interface Audience {
  /** Session registry keys; a session holding ANY of them receives the frame. */
  keys: string[];
  frame: Record<string, unknown>;
}

export function parseTaskEvent(raw: unknown): TaskChangeEvent {
  // Sent as published: the frame is the event itself.
  return checkWith(TaskChangeEvent, raw, 'event');
}

export function taskAudience(e: TaskChangeEvent): Audience {
  const owner = e.TaskUpdated.TriggerOwner;
  const keys: string[] = [];
  if (owner) {
    keys.push(`user:${owner}`);
    if (owner === SYSTEM_USER) keys.push('profile:admin');
  }
  return { keys, frame: e };
}

/** Job progress, to the task's owner (and to admins for system jobs). */
@Topic({ channel: 'tasks' })
@Injectable()
export class TaskTopic implements TopicHandler<TaskChangeEvent> {
  readonly topic = 'tasks';

  constructor(private readonly out: TopicDelivery) {}

  parse(raw: unknown): TaskChangeEvent {
    return parseTaskEvent(raw);
  }

  handle(e: TaskChangeEvent, delivery: Delivery): void {
    this.out.sendToAudience(this.topic, taskAudience(e), delivery);
  }
}
