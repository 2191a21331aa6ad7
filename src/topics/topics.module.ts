import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ActivityTopic } from './activity-event.js';
import { IdmTopic } from './idm-event.js';
import { MetaTopic, NodeDelivery, TreeTopic } from './node-delivery.js';
import { TaskTopic } from './task-event.js';
import { TopicDelivery } from './topic-delivery.js';

/** The Cells event topics of `/ws` (PROTOCOL 3), each declared with `@Topic`. */
@Module({
  imports: [AuthModule, SessionsModule],
  providers: [TopicDelivery, NodeDelivery, TreeTopic, MetaTopic, TaskTopic, ActivityTopic, IdmTopic],
})
export class TopicsModule {}
