/**
 * A session the service closes costs nothing from that moment: its frames are ignored and its
 * socket is cut after a short bounded wait, not after ws' 30 s close handshake timeout. The
 * client here never reads (a paused TCP socket): it cannot answer the close, and keeps sending
 * HISTORY frames, each of which used to read Redis. A private redis-server: its command counts
 * are this service's alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Socket } from 'node:net';
import { Client, metricValue, sleep, startInstance, testChannels, token, type Instance } from '../support/harness.js';
import { joinRoom } from '../support/chat.js';
import { PrivateRedis } from '../support/private-redis.js';

describe('a session the service closes (4008, a client that never reads)', () => {
  let redis: PrivateRedis;
  let admin: Redis;
  let app: Instance;
  const clients: Client[] = [];

  const metric = (series: string) => metricValue(app.url, series);
  /** LRANGEs Redis has served: the store reads a HISTORY page with one (scrapes of /metrics send others). */
  const historyReads = async (): Promise<number> => Number(/cmdstat_lrange:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
  async function until(check: () => Promise<boolean>, ms: number): Promise<number> {
    const start = Date.now();
    for (; Date.now() - start < ms; await sleep(50)) if (await check()) return Date.now() - start;
    throw new Error(`condition not met within ${ms} ms`);
  }

  beforeAll(async () => {
    redis = await PrivateRedis.create();
    await redis.start();
    admin = new Redis({ port: redis.port });
    app = await startInstance({
      ...testChannels(),
      REDIS_URL: redis.url,
      SESSION_MAX_BUFFERED_BYTES: String(64 * 1024),
      CLIENT_FRAME_RATE: '1000',
      CLIENT_FRAME_BURST: '1000',
      CHAT_MESSAGE_RATE: '1000',
      CHAT_USER_MESSAGE_RATE: '1000',
    });
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await app?.close();
    admin?.disconnect();
    await redis?.destroy();
  });

  it('ignores its frames and cuts its socket within seconds, not ws\' 30 s', async () => {
    const writer = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'writer' }));
    const reader = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'reader' }));
    clients.push(writer, reader);
    const room = await joinRoom(writer, { Type: 'GLOBAL', RoomLabel: 'big' });
    const text = 'x'.repeat(3000);
    for (let i = 0; i < 40; i++) writer.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: `${i} ${text}` } });
    await joinRoom(reader, { Type: 'GLOBAL', RoomLabel: 'big' });
    const connections = () => metric('switchboard_connections{endpoint="chat"}');
    expect(await connections()).toBe(2);

    // The reader stops reading: its HISTORY pages (40 x 3 KB each) pass the 64 KiB bound once the kernel's buffers are full, and it is closed 4008.
    (reader.socket as unknown as { _socket: Socket })._socket.pause();
    const history = { '@type': 'HISTORY', Room: { Type: 'GLOBAL' }, Message: { Message: '{"Offset":0,"Limit":40}' } };
    // Asked until the kernel's buffers are full too (loopback holds megabytes).
    await until(async () => {
      for (let i = 0; i < 10; i++) reader.send(history);
      return (await metric('switchboard_closes_total{code="4008"}')) === 1;
    }, 10_000);

    // From here its frames cost nothing: each HISTORY read Redis before.
    const before = await historyReads();
    for (let i = 0; i < 100; i++) reader.send(history);
    const cutAfter = await until(async () => (await connections()) === 1, 10_000);
    expect(cutAfter).toBeLessThan(5000);
    // At most the page being read when the close came; each of the 100 was read before.
    expect((await historyReads()) - before).toBeLessThanOrEqual(1);
  });
});
