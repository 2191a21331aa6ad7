import { Module, type DynamicModule } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { DeliveryModule } from '../delivery/delivery.module.js';
import { HistoryModule } from '../history/history.module.js';
import { DemoController } from './demo.controller.js';
import { OpsController } from './ops.controller.js';
import { PublishController } from './publish.controller.js';

/** HTTP: health, readiness, metrics, `POST /api/publish`, and the demo pages in demo mode only. */
@Module({})
export class OpsModule {
  static register({ demo }: { demo: boolean }): DynamicModule {
    return {
      module: OpsModule,
      imports: [BusModule, HistoryModule, DeliveryModule],
      // Without the demo controller, no route mints a token.
      controllers: [OpsController, PublishController, ...(demo ? [DemoController] : [])],
    };
  }
}
