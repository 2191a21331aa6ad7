import { Global, Module } from '@nestjs/common';
import { Metrics } from './metrics.js';

/** Every part counts what it does; the ops module serves the registry on /metrics. */
@Global()
@Module({ providers: [Metrics], exports: [Metrics] })
export class MetricsModule {}
