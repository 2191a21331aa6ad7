import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ChatService } from './chat.service.js';

/** Chat rooms on `/chat` (PROTOCOL 4): rooms, messages, presence, the chat topic. */
@Module({
  imports: [BusModule, SessionsModule],
  providers: [ChatService],
  exports: [ChatService],
})
export class ChatModule {}
