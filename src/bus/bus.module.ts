import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Bus } from './bus.js';
import { TopicDispatcher } from './topic-dispatcher.js';

/**
 * Events in: Redis (or the embedded bus), the shared history, and the one dispatcher that
 * hands every event, however it came, to the `@Topic` declared for its channel.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [Bus, TopicDispatcher],
  exports: [Bus, TopicDispatcher],
})
export class BusModule {}
