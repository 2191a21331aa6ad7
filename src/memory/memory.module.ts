import { Global, Logger, Module, type FactoryProvider } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../metrics/metrics.js';
import { MemoryBudget, budgetFrom, readCgroupLimits } from './memory-budget.js';

const MiB = 1024 * 1024;

/** The budget: MEMORY_BUDGET_MB, else the container's cgroup limit, else none. */
const memoryBudget: FactoryProvider<MemoryBudget> = {
  provide: MemoryBudget,
  inject: [CONFIG, Metrics],
  useFactory: ({ memory }: Config, metrics: Metrics) => {
    const { bytes, source } = budgetFrom({ budgetMb: memory.budgetMb, ...(memory.budgetMb === undefined && readCgroupLimits()) });
    const budget = new MemoryBudget({
      limitBytes: bytes,
      marginPercent: memory.marginPercent,
      reservedChanged: (n) => metrics.memoryReserved.set(n),
      refused: (use) => metrics.memoryRefused.inc({ use }),
    });
    metrics.memoryBudget.set(bytes ?? 0);
    metrics.memoryUsedNow = () => budget.used;
    const log = new Logger('MemoryBudget');
    if (bytes === undefined) log.log(`no memory budget (${source === 'none' ? 'no cgroup limit and MEMORY_BUDGET_MB unset' : 'MEMORY_BUDGET_MB=0'}): no work is refused for memory`);
    else log.log(`memory budget ${Math.round(bytes / MiB)} MiB (${source}): work that would take the memory in use past ${Math.round(budget.ceiling / MiB)} MiB is refused`);
    return budget;
  },
};

/** The memory budget, for every part that holds client-driven data (global, like the metrics). */
@Global()
@Module({ providers: [memoryBudget], exports: [MemoryBudget] })
export class MemoryModule {}
