import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module.js';
import { BackgroundPushTopic, PushTopic } from './push.topic.js';
import { PushService } from './push.service.js';

/** Generic push to users, sessions and rooms (PROTOCOL 5): the bus topics and the room commands. */
@Module({
  imports: [SessionsModule],
  providers: [PushService, PushTopic, BackgroundPushTopic],
  exports: [PushService],
})
export class PushModule {}
