import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { createServer } from 'node:http';
import type { Config } from '../config/config.js';

/**
 * Express, on a Node HTTP server whose header and request timeouts are enforced within a
 * second: Node checks them on a sweep that runs every 30 s by default, which would let a
 * request that sends its body one byte at a time live for up to a minute past its deadline.
 */
export class TimedExpressAdapter extends ExpressAdapter {
  constructor(private readonly timeouts: Config['http']) {
    super();
  }

  initHttpServer(options: NestApplicationOptions): void {
    super.initHttpServer(options); // the options this service uses need nothing more from it
    this.setHttpServer(
      createServer(
        { headersTimeout: this.timeouts.headersTimeoutMs, requestTimeout: this.timeouts.requestTimeoutMs, connectionsCheckingInterval: 1000 },
        this.getInstance(),
      ),
    );
  }
}
