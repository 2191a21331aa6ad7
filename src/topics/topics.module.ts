import { Module, type FactoryProvider } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { CONFIG, type Config } from '../config/config.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ActivityTopic } from './activity.topic.js';
import { IdmTopic } from './idm.topic.js';
import { MetaTopic } from './meta.topic.js';
import { NodeLocator } from './node-locator.js';
import { TaskTopic } from './task.topic.js';
import { TreeTopic } from './tree.topic.js';

/** NODE_LOOKUP_URL: where pathless node events are located (one cache for both node topics). */
const nodeLocator: FactoryProvider<NodeLocator> = {
  provide: NodeLocator,
  inject: [CONFIG],
  useFactory: (config: Config) => new NodeLocator({ url: config.nodeLookupUrl }),
};

/** The Cells event topics of `/ws` (PROTOCOL 3), each declared with `@Topic`. */
@Module({
  imports: [AuthModule, SessionsModule],
  providers: [nodeLocator, TreeTopic, MetaTopic, TaskTopic, ActivityTopic, IdmTopic],
})
export class TopicsModule {}
