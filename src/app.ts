import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { Bus } from './bus/bus.js';
import type { Config } from './config/config.js';
import { SocketAdapter } from './gateways/socket-adapter.js';

/** Builds and starts one Switchboard instance: HTTP, both gateways, the bus. */
export async function startApp(config: Config): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forConfig(config), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.useBodyParser('json', { limit: config.limits.publishBodyBytes });
  app.useWebSocketAdapter(new SocketAdapter(app, { ...config.limits, shutdownGraceMs: config.shutdownGraceMs }));
  app.enableShutdownHooks();

  const bus = app.get(Bus);
  await app.init(); // routes are registered by the providers' constructors and init hooks
  if (bus.server) {
    bus.bindRoutes();
    app.connectMicroservice({ strategy: bus.server }, { inheritAppConfig: true });
    await app.startAllMicroservices();
  }
  await app.listen(config.port, config.host);
  return app;
}
