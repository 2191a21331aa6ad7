import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AdminCluster } from './admin-cluster.js';
import { AdminController } from './admin.controller.js';
import { AdminKeyGuard } from './admin-key.guard.js';
import { InstanceAdmin } from './instance-admin.js';

/** The server API (docs/protocol.md 10): HTTP routes, answered by every instance over Redis. */
@Module({
  imports: [SessionsModule, AuthModule],
  providers: [InstanceAdmin, AdminCluster, AdminKeyGuard],
  controllers: [AdminController],
})
export class AdminModule {}
