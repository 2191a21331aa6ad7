import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication, NestExpressBodyParserOptionsFor } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { Bus } from './bus/bus.js';
import type { Config } from './config/config.js';
import { SocketAdapter } from './gateways/socket-adapter.js';
import { Metrics } from './metrics/metrics.js';
import { rejectDeepJson, requireApiKey } from './ops/publish-gate.js';
import { TimedExpressAdapter } from './ops/timed-express-adapter.js';

/** Builds and starts one Switchboard instance: HTTP, both gateways, the bus. */
export async function startApp(config: Config): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forConfig(config), new TimedExpressAdapter(config.http), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  // Order matters: the API key is checked before the body parser reads a byte of the body.
  app.use('/api/publish', requireApiKey(config));
  // `verify` (body-parser's hook on the raw bytes) is passed through by Nest but left out of its type.
  const json = { limit: config.limits.publishBodyBytes, verify: rejectDeepJson(config.limits.maxJsonDepth) };
  app.useBodyParser('json', json as NestExpressBodyParserOptionsFor<'json'>);
  app.useWebSocketAdapter(
    new SocketAdapter(app, { ...config.limits, allowedOrigins: config.allowedOrigins, shutdownGraceMs: config.shutdownGraceMs }, app.get(Metrics)),
  );
  // Only these two end the service; SIGHUP and SIGUSR2 are ignored in main.ts.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);

  const bus = app.get(Bus);
  await app.init(); // the topics are found, and the bus told what to listen to (Ingress), here
  if (bus.server) {
    app.connectMicroservice({ strategy: bus.server }, { inheritAppConfig: true });
    await app.startAllMicroservices();
  }
  await app.listen(config.port, config.host);
  return app;
}
