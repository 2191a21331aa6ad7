/** The tree topic (PROTOCOL.md 3.2): changes in the tree (create, move, content, delete); the rules are in node-topic.ts. */
import { Injectable } from '@nestjs/common';
import { Topic } from '../delivery/topic.js';
import { NodeTopic } from './node-topic.js';

@Topic({ channel: 'tree' })
@Injectable()
export class TreeTopic extends NodeTopic {
  readonly topic = 'tree';
}
