import { Controller, Get, Header, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Bus } from '../bus/bus.js';
import { Metrics } from './metrics.js';

/** Liveness, readiness and Prometheus metrics (PROTOCOL 1). */
@Controller()
export class OpsController {
  constructor(
    private readonly bus: Bus,
    private readonly metrics: Metrics,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  health() {
    return { status: 'ok' };
  }

  /** 503 while the bus is down: the load balancer stops sending new connections here. */
  @Get('readyz')
  ready(@Res({ passthrough: true }) res: Response) {
    const ready = this.bus.connected;
    res.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not ready', bus: this.bus.mode, connected: ready };
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async scrape(@Res() res: Response) {
    this.metrics.busConnected.set(this.bus.connected ? 1 : 0);
    res.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
  }
}
