/** The task topic (PROTOCOL.md 3.3): audience (pure) and handler; the schema is in src/protocol/events.ts. */
import { Injectable } from '@nestjs/common';
import { checkWith } from '../common/schema.js';
import { Topic, type KeyRouting, type TopicHandler } from '../delivery/topic.js';
import { TaskChangeEvent } from '../protocol/events.js';

/** The login that owns system jobs; their progress is shown to admins. */
export const SYSTEM_USER = 'pydio.system.user';

export type { TaskChangeEvent } from '../protocol/events.js';

export function parseTaskEvent(raw: unknown): TaskChangeEvent {
  // Sent as published: the frame is the event itself.
  return checkWith(TaskChangeEvent, raw, 'event');
}

export function taskAudience(e: TaskChangeEvent): { keys: string[]; frame: TaskChangeEvent } {
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

  parse(raw: unknown): TaskChangeEvent {
    return parseTaskEvent(raw);
  }

  route(e: TaskChangeEvent): KeyRouting {
    return taskAudience(e);
  }
}
