import { Module, type FactoryProvider } from '@nestjs/common';
import { Bus } from '../bus/bus.js';
import { BusModule } from '../bus/bus.module.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../metrics/metrics.js';
import { RedisConnections } from '../redis/redis-connections.js';
import { HISTORY, type History } from './history.js';
import { MemoryHistory } from './memory-history.js';
import { RedisHistory } from './redis-history.js';

/** The history in use: in Redis when REDIS_URL is set, else in memory. */
const history: FactoryProvider<History> = {
  provide: HISTORY,
  inject: [CONFIG, RedisConnections, Bus, Metrics],
  useFactory: ({ history: h }: Config, connections: RedisConnections, bus: Bus, metrics: Metrics) => {
    const options = { key: h.key, maxLength: h.maxLength, ttlSeconds: h.ttlSeconds, leaseMs: h.leaseMs, cacheBytes: h.cacheBytes };
    if (!connections.enabled) return new MemoryHistory(options);
    // On a cluster the stream, its epoch, lease and feed channel share the slot of `{<key>}`.
    const cluster = connections.mode === 'cluster';
    const redisOptions = { ...options, key: connections.hashTag(h.key), sharded: cluster };
    // Only an instance that receives pub/sub may append what pub/sub brings.
    return new RedisHistory((o) => connections.commands(o), redisOptions, () => bus.connected, (kind) => metrics.historyAnomalies.inc({ kind }));
  },
};

/** The shared event history (PROTOCOL 6): the stream, its epoch, lease and ledger; nobody else makes one. */
@Module({ imports: [BusModule], providers: [history], exports: [HISTORY] })
export class HistoryModule {}
