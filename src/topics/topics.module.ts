import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ActivityTopic } from './activity.topic.js';
import { IdmTopic } from './idm.topic.js';
import { MetaTopic } from './meta.topic.js';
import { NodeDelivery } from './node-delivery.js';
import { TaskTopic } from './task.topic.js';
import { TopicDelivery } from './topic-delivery.js';
import { TreeTopic } from './tree.topic.js';

/** The Cells event topics of `/ws` (PROTOCOL 3), each declared with `@Topic`. */
@Module({
  imports: [AuthModule, SessionsModule],
  providers: [TopicDelivery, NodeDelivery, TreeTopic, MetaTopic, TaskTopic, ActivityTopic, IdmTopic],
})
export class TopicsModule {}
