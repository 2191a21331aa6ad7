/** The task topic (PROTOCOL.md 3.3): schema, audience (pure) and handler. */
import { Injectable } from '@nestjs/common';
import { Topic, type Delivery, type TopicHandler } from '../bus/topic.js';
import { SchemaError, requireRecord, type Json } from '../common/schema.js';
import { TopicDelivery } from './topic-delivery.js';

/** The login that owns system jobs; their progress is shown to admins. */
export const SYSTEM_USER = 'pydio.system.user';

export interface TaskChangeEvent {
  TaskUpdated: Json & { TriggerOwner?: string };
  Job?: Json;
  [key: string]: unknown;
}

/** Who receives a topic frame; shared by the task, IDM and activity topics. */
export interface Audience {
  /** Session registry keys; a session holding ANY of them receives the frame. */
  keys: string[];
  frame: Record<string, unknown>;
}

export function parseTaskEvent(raw: unknown): TaskChangeEvent {
  const obj = requireRecord(raw, 'event');
  const task = requireRecord(obj.TaskUpdated, 'event.TaskUpdated');
  if (obj.Job !== undefined && obj.Job !== null) requireRecord(obj.Job, 'event.Job');
  if (task.TriggerOwner !== undefined && task.TriggerOwner !== null && typeof task.TriggerOwner !== 'string') {
    throw new SchemaError('event.TaskUpdated.TriggerOwner must be a string');
  }
  // Sent as published: the frame is the event itself.
  return obj as TaskChangeEvent;
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
