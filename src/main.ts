import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from './config/config.js';
import { startApp } from './app.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`switchboard: configuration error: ${err.message}`);
  process.exit(2);
}
const log = new Logger('main');
// Without a listener these signals end a Node process; only SIGTERM and SIGINT should (app.ts).
for (const signal of ['SIGHUP', 'SIGUSR2'] as const) process.on(signal, () => log.warn(`${signal} ignored (SIGTERM or SIGINT stop the service)`));
// Last resort: causes are handled where they arise, but a stray rejection must not end every session.
process.on('unhandledRejection', (reason) => log.error(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`));
const app = await startApp(config);
log.log(`listening on ${await app.getUrl()}`);
