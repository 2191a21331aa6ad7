import { Module } from '@nestjs/common';
import { Bus } from './bus.js';

/** The transport: Redis pub/sub (the NestJS Redis transport) or an embedded loop. */
@Module({ providers: [Bus], exports: [Bus] })
export class BusModule {}
