/** The activity topic (PROTOCOL.md 3.5): schema, audience (pure) and handler. */
import { Injectable } from '@nestjs/common';
import { Topic, type Delivery, type TopicHandler } from '../bus/topic.js';
import { SchemaError, requireRecord, type Json } from '../common/schema.js';
import type { Audience } from './task.topic.js';
import { TopicDelivery } from './topic-delivery.js';

type ActivityObject = Json & { id?: string; name?: string };

export interface PostActivityEvent {
  OwnerType?: string;
  OwnerId?: string;
  BoxName?: string;
  Activity: Json & { actor?: ActivityObject; object?: ActivityObject; origin?: ActivityObject; target?: ActivityObject };
  [key: string]: unknown;
}

/** Fields whose `name` is a node path, reduced to a basename for display. */
const NAMED_FIELDS = ['object', 'origin', 'target'] as const;

function checkString(obj: Json, key: string, what: string): void {
  const v = obj[key];
  if (v !== undefined && v !== null && typeof v !== 'string') throw new SchemaError(`${what}.${key} must be a string`);
}

export function parseActivityEvent(raw: unknown): PostActivityEvent {
  const obj = requireRecord(raw, 'event');
  for (const k of ['OwnerType', 'OwnerId', 'BoxName']) checkString(obj, k, 'event');
  const activity = requireRecord(obj.Activity, 'event.Activity');
  for (const k of ['actor', ...NAMED_FIELDS]) {
    const v = activity[k];
    if (v === undefined || v === null) continue;
    const o = requireRecord(v, `event.Activity.${k}`);
    checkString(o, 'id', `event.Activity.${k}`);
    checkString(o, 'name', `event.Activity.${k}`);
  }
  return obj as PostActivityEvent;
}

/** `a/b/c.txt/` -> `c.txt`. */
function basename(path: string): string {
  const parts = path.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1];
}

export function activityAudience(e: PostActivityEvent): Audience {
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

  constructor(private readonly out: TopicDelivery) {}

  parse(raw: unknown): PostActivityEvent {
    return parseActivityEvent(raw);
  }

  handle(e: PostActivityEvent, delivery: Delivery): void {
    this.out.sendToAudience(this.topic, activityAudience(e), delivery);
  }
}
