/** The tree topic (PROTOCOL.md 3.2); the node schema and rules are in node-event.ts, the delivery in node-delivery.ts. */
import { Injectable } from '@nestjs/common';
import { Topic, type Delivery, type TopicHandler } from '../bus/topic.js';
import { NodeDelivery } from './node-delivery.js';
import { parseNodeEvent, type NodeChangeEvent } from './node-event.js';

/** Changes in the tree (create, move, content, delete): the `tree` topic. */
@Topic({ channel: 'tree' })
@Injectable()
export class TreeTopic implements TopicHandler<NodeChangeEvent> {
  readonly topic = 'tree';

  constructor(private readonly nodes: NodeDelivery) {}

  parse(raw: unknown): NodeChangeEvent {
    return parseNodeEvent(raw);
  }

  handle(e: NodeChangeEvent, delivery: Delivery): void | Promise<void> {
    return this.nodes.handle(this.topic, e, delivery);
  }
}
