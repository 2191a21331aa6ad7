import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { ResumeService } from './resume.service.js';

/** Resume (PROTOCOL 6): a reconnecting `/ws` session gets what it missed, from the bus's history. */
@Module({ imports: [BusModule], providers: [ResumeService], exports: [ResumeService] })
export class HistoryModule {}
