/**
 * The connection factory against a real Sentinel set-up and a real Redis Cluster (started
 * here): command connections, classic pub/sub fed by a backend's plain PUBLISH, sharded
 * pub/sub (SPUBLISH / SSUBSCRIBE), all of them again after the master is SIGKILLed and its
 * replica promoted, without anything re-opened by hand.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { loadConfig } from '../../src/config/config.js';
import { RedisConnections, type RedisClient } from '../../src/redis/redis-connections.js';
import { ClusterTopology, SentinelTopology, redisCall, until, type RedisProcess } from '../support/redis-topology.js';

jest.setTimeout(60_000);

/** The factory's connections, each with an error listener as every caller in the service has (a failover makes them report). */
function open(connections: RedisConnections): RedisClient[] {
  const clients = [connections.commands(), connections.subscriber(), connections.shardedSubscriber()];
  for (const c of clients) c.on('error', () => undefined);
  return clients;
}

/** Messages a subscriber connection received, by channel. */
function inbox(client: RedisClient): Map<string, string[]> {
  const got = new Map<string, string[]>();
  const keep = (channel: string, message: string) => got.set(channel, [...(got.get(channel) ?? []), message]);
  client.on('message', keep);
  client.on('smessage', keep);
  return got;
}

/** Publishes `send(i)` (i = 0, 1...) every 100 ms until `received` says it arrived; answers the time it took. */
async function resumes(what: string, send: (i: number) => Promise<unknown>, received: (i: number) => boolean): Promise<number> {
  const start = Date.now();
  let i = 0;
  await until(what, async () => {
    const n = i++;
    await send(n).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    return received(n);
  });
  return Date.now() - start;
}

describe('RedisConnections with Sentinel (1 master, 1 replica, 3 sentinels)', () => {
  let topology: SentinelTopology;
  let connections: RedisConnections;

  beforeAll(async () => {
    topology = await SentinelTopology.start();
    connections = new RedisConnections(loadConfig(topology.env));
  });
  afterAll(async () => {
    await connections?.onApplicationShutdown();
    await topology?.stop();
  });

  it('commands, PUBLISH and SPUBLISH reach the master and its subscribers, and again after a failover', async () => {
    expect(connections.mode).toBe('sentinel');
    expect(connections.hashTag('k')).toBe('k');
    const [commands, subscriber, sharded] = open(connections);
    expect([commands, subscriber, sharded].every((c) => c instanceof Redis)).toBe(true);
    const got = [inbox(subscriber), inbox(sharded)];
    await subscriber.subscribe('backend.events');
    await sharded.ssubscribe('instances.fanout');

    const master = await topology.master();
    await commands.set('before', '1');
    expect(await redisCall(master.port, 'GET', 'before')).toBe('1');
    expect(await commands.wait(1, 2000)).toBe(1); // replicated: it must survive the failover
    // A backend publishes on the master as it always did.
    await redisCall(master.port, 'PUBLISH', 'backend.events', 'hello');
    await commands.spublish('instances.fanout', 'hi');
    await until('both messages', async () => got[0].get('backend.events')?.[0] === 'hello' && got[1].get('instances.fanout')?.[0] === 'hi');

    const killedAt = Date.now();
    const promoted = await topology.killMaster();
    const pauses = {
      commands: await resumes('commands', (i) => commands.set(`after-${i}`, '1'), () => commands.status === 'ready'),
      publish: await resumes('PUBLISH', (i) => redisCall(promoted.port, 'PUBLISH', 'backend.events', `after-${i}`), (i) => got[0].get('backend.events')!.includes(`after-${i}`)),
      spublish: await resumes('SPUBLISH', (i) => commands.spublish('instances.fanout', `after-${i}`), (i) => got[1].get('instances.fanout')!.includes(`after-${i}`)),
    };
    expect(await redisCall(promoted.port, 'GET', 'before')).toBe('1');
    process.stdout.write(`sentinel failover: promoted after ${Date.now() - killedAt} ms in all; resumed ${JSON.stringify(pauses)}\n`);
  });
});

describe('RedisConnections with a Redis Cluster (3 masters, 3 replicas)', () => {
  let topology: ClusterTopology;
  let connections: RedisConnections;

  beforeAll(async () => {
    topology = await ClusterTopology.start();
    connections = new RedisConnections(loadConfig(topology.env));
  });
  afterAll(async () => {
    await connections?.onApplicationShutdown();
    await topology?.stop();
  });

  it('routes commands by slot, feeds classic and sharded subscribers, and does again after a master is killed', async () => {
    expect(connections.mode).toBe('cluster');
    expect(connections.hashTag('switchboard:revoked')).toBe('{switchboard:revoked}');
    const [commands, subscriber, sharded] = open(connections);
    expect([commands, subscriber, sharded].every((c) => c instanceof Cluster)).toBe(true);
    const got = [inbox(subscriber), inbox(sharded)];
    // Shard channels in each of the three masters' slot ranges ("{a}" is slot 15495, "{b}" 3300, "{c}" 7365).
    const channels = ['fanout.{b}', 'fanout.{c}', 'fanout.{a}'];
    await subscriber.subscribe('backend.events');
    for (const channel of channels) await sharded.ssubscribe(channel);

    // Keys of all three shards; a multi-key command of one slot.
    for (const k of ['a', 'b', 'c']) await commands.set(`key:{${k}}`, k);
    expect(await commands.mget('key:{a}', 'other:{a}')).toEqual(['a', null]);
    await expect(commands.mget('key:{a}', 'key:{b}')).rejects.toThrow(/CROSSSLOT/);

    // A backend publishes with a plain PUBLISH on any node: the cluster bus forwards it.
    const anyMaster = await topology.masterOf(0);
    await redisCall(anyMaster.port, 'PUBLISH', 'backend.events', 'hello');
    for (const channel of channels) await commands.spublish(channel, 'hi');
    await until('every message', async () => got[0].get('backend.events')?.[0] === 'hello' && channels.every((c) => got[1].get(c)?.[0] === 'hi'));

    const slot = 15495; // the shard of "{a}"
    const killedAt = Date.now();
    const promoted: RedisProcess = await topology.killMasterOf(slot);
    const promotedIn = Date.now() - killedAt;
    const pauses = {
      commands: await resumes('commands on the promoted shard', (i) => commands.set(`key:{a}:${i}`, '1'), () => true),
      publish: await resumes('PUBLISH', (i) => redisCall(promoted.port, 'PUBLISH', 'backend.events', `after-${i}`), (i) => got[0].get('backend.events')!.includes(`after-${i}`)),
      spublish: await resumes('SPUBLISH on the promoted shard', (i) => commands.spublish('fanout.{a}', `after-${i}`), (i) => got[1].get('fanout.{a}')!.includes(`after-${i}`)),
    };
    // The other shards' subscriptions were not disturbed.
    for (const channel of ['fanout.{b}', 'fanout.{c}']) await commands.spublish(channel, 'still');
    await until('the other shards', async () => ['fanout.{b}', 'fanout.{c}'].every((c) => got[1].get(c)!.includes('still')));
    process.stdout.write(`cluster failover: replica promoted after ${promotedIn} ms; resumed ${JSON.stringify(pauses)}\n`);
  });
});
