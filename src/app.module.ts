import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { AdminModule } from './admin/admin.module.js';
import { AuthModule } from './auth/auth.module.js';
import { BusModule } from './bus/bus.module.js';
import { ChatModule } from './chat/chat.module.js';
import { ConfigModule } from './config/config.module.js';
import { DeliveryModule } from './delivery/delivery.module.js';
import type { Config } from './config/config.js';
import { GatewaysModule } from './gateways/gateways.module.js';
import { HistoryModule } from './history/history.module.js';
import { MemoryModule } from './memory/memory.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { OpsModule } from './ops/ops.module.js';
import { PushModule } from './push/push.module.js';
import { RedisModule } from './redis/redis.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { TopicsModule } from './topics/topics.module.js';

/** Composes the feature modules (README, Development, draws how they depend on each other). */
@Module({})
export class AppModule {
  static forConfig(config: Config): DynamicModule {
    return {
      module: AppModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            genReqId: (req) => (req.headers['x-request-id'] as string) ?? randomUUID(),
            // Never log a token or a key.
            redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["sec-websocket-protocol"]'],
            autoLogging: { ignore: (req) => ['/healthz', '/readyz', '/metrics'].includes(req.url ?? '') },
          },
        }),
        ConfigModule.forRoot(config),
        MetricsModule,
        MemoryModule,
        RedisModule,
        AuthModule,
        SessionsModule,
        BusModule,
        HistoryModule,
        DeliveryModule,
        TopicsModule,
        PushModule,
        ChatModule,
        GatewaysModule,
        AdminModule,
        OpsModule.register({ demo: config.demo !== undefined }),
      ],
    };
  }
}
