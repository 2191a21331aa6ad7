import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { Revocations } from './auth/revocations.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { Bus } from './bus/bus.js';
import { ChatService } from './chat/chat.service.js';
import { CONFIG, type Config } from './config/config.js';
import { ChatGateway } from './gateways/chat.gateway.js';
import { EventsGateway } from './gateways/events.gateway.js';
import { ResumeService } from './history/resume.service.js';
import { Metrics } from './ops/metrics.js';
import { DemoController } from './ops/demo.controller.js';
import { OpsController } from './ops/ops.controller.js';
import { PublishController } from './ops/publish.controller.js';
import { PushService } from './push/push.service.js';
import { Fanout } from './sessions/fanout.js';
import { EventTopics } from './topics/event-topics.js';
import { TopicRouter } from './topics/topic-router.js';

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
      ],
      // The demo controller exists only in demo mode: without it, no route mints a token.
      controllers: [OpsController, PublishController, ...(config.demo ? [DemoController] : [])],
      providers: [
        { provide: CONFIG, useValue: config },
        Metrics,
        TokenVerifier,
        Revocations,
        TopicRouter,
        Fanout,
        Bus,
        EventsGateway,
        EventTopics,
        ChatService,
        ChatGateway,
        PushService,
        ResumeService,
      ],
    };
  }
}
