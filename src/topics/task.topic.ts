/** The task topic (PROTOCOL.md 3.3): audience (pure) and handler; the schema is in src/protocol/events.ts. */
import { Inject, Injectable } from '@nestjs/common';
import { checkWith } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Topic, type Coalescing, type KeyRouting, type TopicHandler } from '../delivery/topic.js';
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

/** The task an event is about, when it names one. */
const taskOf = (e: TaskChangeEvent): string | undefined => (typeof e.TaskUpdated.ID === 'string' && e.TaskUpdated.ID ? e.TaskUpdated.ID : undefined);

/**
 * A job emits many `Running` events with a growing `Progress`: those of one task within the
 * window leave as the last one (a replay sends the last one only). Any other status (Finished,
 * Error, Interrupted...) is never merged away: it goes out at once, after the task's pending
 * progress.
 */
export function taskCoalescing(windowMs: number): Coalescing<TaskChangeEvent> {
  return {
    key: (e) => (e.TaskUpdated.Status === 'Running' && taskOf(e) ? `task\n${taskOf(e)}` : undefined),
    after: (e) => (taskOf(e) ? `task\n${taskOf(e)}` : undefined),
    merge: (_pending, next) => next,
    window: () => ({ windowMs, maxWaitMs: windowMs }),
    replayLatest: true,
  };
}

/** Job progress, to the task's owner (and to admins for system jobs). */
@Topic({ channel: 'tasks' })
@Injectable()
export class TaskTopic implements TopicHandler<TaskChangeEvent> {
  readonly topic = 'tasks';
  readonly coalesce?: Coalescing<TaskChangeEvent>;

  constructor(@Inject(CONFIG) config: Config) {
    if (config.taskCoalesceMs > 0) this.coalesce = taskCoalescing(config.taskCoalesceMs);
  }

  parse(raw: unknown): TaskChangeEvent {
    return parseTaskEvent(raw);
  }

  route(e: TaskChangeEvent): KeyRouting {
    return taskAudience(e);
  }
}
