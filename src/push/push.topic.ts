/** The push topics (PROTOCOL 5): the native channel and websocket-push's `BackgroundPush`. Pure routes. */
import { Injectable } from '@nestjs/common';
import { isRecord } from '../common/schema.js';
import { Topic, type Routing, type TopicHandler } from '../delivery/topic.js';
import { parsePushCommand, pushTargets, type PushCommand } from './push-rules.js';
import { PushService } from './push.service.js';

/**
 * A push to its targets; a room command (subscribe/unsubscribe) is an effect, applied live
 * only. A replay re-sends pushes to users and sessions, not to rooms (PROTOCOL 6: a session's
 * rooms then are not those of when the push was published).
 */
export function pushRoute(cmd: PushCommand, stampOffset: boolean): Routing {
  if (cmd.kind !== 'push') return { keys: [], frame: null, effects: [cmd], replay: false };
  const { keys, session } = pushTargets(cmd);
  return { keys, session, frame: cmd.payload, offset: stampOffset && isRecord(cmd.payload), replay: cmd.room === undefined };
}

/** Injectable so that its constructor's parameter types are recorded for the subclasses. */
@Injectable()
abstract class PushTopicBase implements TopicHandler<PushCommand, PushCommand> {
  readonly topic = 'push';
  protected abstract readonly stampOffset: boolean;

  constructor(private readonly push: PushService) {}

  parse(raw: unknown): PushCommand {
    return parsePushCommand(raw);
  }

  route(cmd: PushCommand): Routing {
    return pushRoute(cmd, this.stampOffset);
  }

  apply(cmd: PushCommand): void {
    this.push.command(cmd);
  }
}

/** Push commands; a JSON object pushed gets the event's `"@offset"` as its last key. */
@Topic({ channel: 'push' })
@Injectable()
export class PushTopic extends PushTopicBase {
  protected readonly stampOffset = true;
}

/** websocket-push's channel: its receivers get their payload byte for byte, no offset added. */
@Topic({ channel: 'pushCompat' })
@Injectable()
export class BackgroundPushTopic extends PushTopicBase {
  protected readonly stampOffset = false;
}
