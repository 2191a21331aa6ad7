import { Module } from '@nestjs/common';
import { CallsModule } from '../calls/calls.module.js';
import { ChatModule } from '../chat/chat.module.js';
import { DeliveryModule } from '../delivery/delivery.module.js';
import { PushModule } from '../push/push.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ChatGateway } from './chat.gateway.js';
import { EventsGateway } from './events.gateway.js';

/** The two WebSocket endpoints: they read client frames and hand them on; nothing depends on them. */
@Module({
  imports: [SessionsModule, PushModule, ChatModule, DeliveryModule, CallsModule],
  providers: [EventsGateway, ChatGateway],
})
export class GatewaysModule {}
