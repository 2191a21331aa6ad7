/** The push topics (PROTOCOL 5): the native channel and websocket-push's `BackgroundPush`. */
import { Injectable } from '@nestjs/common';
import { Topic, type Delivery, type TopicHandler } from '../bus/topic.js';
import { parsePushCommand, type PushCommand } from './push-rules.js';
import { PushService } from './push.service.js';

/** Push commands; a JSON object pushed gets the event's `"@offset"` as its last key. */
@Topic({ channel: 'push' })
@Injectable()
export class PushTopic implements TopicHandler<PushCommand> {
  readonly topic = 'push';

  constructor(private readonly push: PushService) {}

  parse(raw: unknown): PushCommand {
    return parsePushCommand(raw);
  }

  handle(cmd: PushCommand, delivery: Delivery): void {
    this.push.handle(cmd, delivery);
  }
}

/** websocket-push's channel: its receivers get their payload byte for byte, no offset added. */
@Topic({ channel: 'pushCompat' })
@Injectable()
export class BackgroundPushTopic implements TopicHandler<PushCommand> {
  readonly topic = 'push';

  constructor(private readonly push: PushService) {}

  parse(raw: unknown): PushCommand {
    return parsePushCommand(raw);
  }

  handle(cmd: PushCommand, delivery: Delivery): void {
    this.push.handle(cmd, delivery, false);
  }
}
