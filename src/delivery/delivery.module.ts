import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BusModule } from '../bus/bus.module.js';
import { HistoryModule } from '../history/history.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { DeliveryService } from './delivery.service.js';
import { Ingress } from './ingress.js';
import { ResumeService } from './resume.service.js';
import { TopicRegistry } from './topic-registry.js';

/**
 * Events in (Ingress), through the history, to sessions (DeliveryService), and again on a
 * resume (ResumeService), by one path: every `@Topic` found at start-up (TopicRegistry).
 */
@Module({
  imports: [DiscoveryModule, BusModule, HistoryModule, SessionsModule],
  providers: [TopicRegistry, DeliveryService, Ingress, ResumeService],
  exports: [TopicRegistry, Ingress, ResumeService],
})
export class DeliveryModule {}
