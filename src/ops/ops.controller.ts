import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Bus } from '../bus/bus.js';
import { HISTORY, type History } from '../history/history.js';
import { Metrics } from '../metrics/metrics.js';

/** Liveness, readiness and Prometheus metrics (PROTOCOL 1). */
@Controller()
export class OpsController {
  constructor(
    private readonly bus: Bus,
    @Inject(HISTORY) private readonly history: History,
    private readonly metrics: Metrics,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  health() {
    return { status: 'ok' };
  }

  /** 503 while the bus is down or the history unreadable: the load balancer stops sending new connections here. */
  @Get('readyz')
  ready(@Res({ passthrough: true }) res: Response) {
    const ready = this.bus.connected && this.history.readable;
    res.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not ready', bus: this.bus.mode, connected: this.bus.connected, history: this.history.readable };
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async scrape(@Res() res: Response) {
    this.metrics.busConnected.set(this.bus.connected ? 1 : 0);
    const { history } = this;
    this.metrics.historyReadable.set(history.readable ? 1 : 0);
    this.metrics.historyLost.set(history.lost);
    const stats = await history.stats();
    if (stats) {
      this.metrics.historyLength.set(stats.length);
      this.metrics.historyMemory.set(stats.memoryBytes);
      this.metrics.historyLag.set(stats.lagSeconds);
      this.metrics.historyLeader.set(stats.leader ? 1 : 0);
    }
    res.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
  }
}
