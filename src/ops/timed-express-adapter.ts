import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { createServer } from 'node:http';
import type { Config } from '../config/config.js';

/**
 * Express, on a Node HTTP server whose header and request timeouts are enforced within a
 * quarter of the shorter one (2.5 s with the defaults): Node checks them on a sweep that runs
 * every 30 s by default, which would let a request that sends its body one byte at a time live
 * for up to a minute past its deadline. The sweep wakes the process even when idle (each
 * wake-up of an idle process costs CPU), so it runs no more often than that bound needs.
 */
export class TimedExpressAdapter extends ExpressAdapter {
  constructor(private readonly timeouts: Config['http']) {
    super();
  }

  initHttpServer(options: NestApplicationOptions): void {
    super.initHttpServer(options); // the options this service uses need nothing more from it
    const { headersTimeoutMs, requestTimeoutMs } = this.timeouts;
    const sweepMs = Math.max(250, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 4));
    this.setHttpServer(
      createServer(
        { headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, connectionsCheckingInterval: sweepMs },
        this.getInstance(),
      ),
    );
  }
}
