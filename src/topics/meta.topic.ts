/** The meta topic (PROTOCOL.md 3.2), delivered with the tree topic's events in one order (node-delivery.ts). */
import { Injectable } from '@nestjs/common';
import { Topic, type Delivery, type TopicHandler } from '../bus/topic.js';
import { NodeDelivery } from './node-delivery.js';
import { parseNodeEvent, type NodeChangeEvent } from './node-event.js';

/** Changes of node metadata (tags, bookmarks, user meta): the `meta` topic. */
@Topic({ channel: 'meta' })
@Injectable()
export class MetaTopic implements TopicHandler<NodeChangeEvent> {
  readonly topic = 'meta';

  constructor(private readonly nodes: NodeDelivery) {}

  parse(raw: unknown): NodeChangeEvent {
    return parseNodeEvent(raw);
  }

  handle(e: NodeChangeEvent, delivery: Delivery): void | Promise<void> {
    return this.nodes.handle(this.topic, e, delivery);
  }
}
