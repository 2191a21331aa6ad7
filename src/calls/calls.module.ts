import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { CallService } from './call.service.js';

/** Calls over the socket (PROTOCOL 9): the events gateway hands `call` frames to CallService. */
@Module({
  imports: [SessionsModule, AuthModule],
  providers: [CallService],
  exports: [CallService],
})
export class CallsModule {}
