/** Task events (PROTOCOL.md 3.3): schema and audience. Pure. */
import { checkWith } from '../common/schema.js';
import { TaskChangeEvent } from '../protocol/events.js';

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
