/**
 * Real Redis topologies on loopback ports (single, Sentinel, Cluster): the processes are
 * started and stopped by redis-topology.mjs, plain JavaScript that the benches import too.
 */
export { ClusterTopology, RedisProcess, SentinelTopology, SingleTopology, distinctFreePorts, freePort, redisCall, until } from './redis-topology.mjs';
