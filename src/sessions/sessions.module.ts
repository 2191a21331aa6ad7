import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ChatSessions, EventSessions } from './endpoints.js';
import { Fanout } from './fanout.js';

/** Who is connected, as whom, and how frames reach them: one host per endpoint, one fan-out. */
@Module({
  imports: [AuthModule],
  providers: [EventSessions, ChatSessions, Fanout],
  exports: [EventSessions, ChatSessions, Fanout],
})
export class SessionsModule {}
