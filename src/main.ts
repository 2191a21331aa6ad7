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
const app = await startApp(config);
new Logger('main').log(`listening on ${await app.getUrl()}`);
