/** The meta topic (PROTOCOL.md 3.2): changes of node metadata (tags, bookmarks, user meta); the rules are in node-topic.ts. */
import { Injectable } from '@nestjs/common';
import { Topic } from '../delivery/topic.js';
import { NodeTopic } from './node-topic.js';

@Topic({ channel: 'meta' })
@Injectable()
export class MetaTopic extends NodeTopic {
  readonly topic = 'meta';
}
