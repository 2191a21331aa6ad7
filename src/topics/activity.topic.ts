/** The activity topic (PROTOCOL.md 3.5): audience (pure) and handler; the schema is in src/protocol/events.ts. */
import { Injectable } from '@nestjs/common';
import { checkWith, type Json } from '../common/schema.js';
import { Topic, type KeyRouting, type TopicHandler } from '../delivery/topic.js';
import { PostActivityEvent } from '../protocol/events.js';

export type { PostActivityEvent } from '../protocol/events.js';

/** Fields whose `name` is a node path, reduced to a basename for display. */
const NAMED_FIELDS = ['object', 'origin', 'target'] as const;

export function parseActivityEvent(raw: unknown): PostActivityEvent {
  return checkWith(PostActivityEvent, raw, 'event');
}

/** `a/b/c.txt/` -> `c.txt`. */
function basename(path: string): string {
  const parts = path.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1];
}

export function activityAudience(e: PostActivityEvent): { keys: string[]; frame: Record<string, unknown> } {
  const { ['@type']: _ignored, ...rest } = e;
  const activity: Json = { ...e.Activity };
  for (const k of NAMED_FIELDS) {
    const o = e.Activity[k];
    if (o && typeof o.name === 'string') activity[k] = { ...o, name: basename(o.name) };
  }
  const frame = { '@type': 'activity', ...rest, Activity: activity };

  if (e.BoxName !== 'inbox' && e.OwnerType !== 'USER') return { keys: [], frame };
  // No notification for one's own actions.
  if (!e.OwnerId || e.Activity.actor?.id === e.OwnerId) return { keys: [], frame };
  return { keys: [`user:${e.OwnerId}`], frame };
}

/** Activity streams, to the owner of the box they were posted to. */
@Topic({ channel: 'activity' })
@Injectable()
export class ActivityTopic implements TopicHandler<PostActivityEvent> {
  readonly topic = 'activity';

  parse(raw: unknown): PostActivityEvent {
    return parseActivityEvent(raw);
  }

  route(e: PostActivityEvent): KeyRouting {
    return activityAudience(e);
  }
}
