/**
 * Issue 19, non-reading chat sockets, at a small scale: a service process with a small heap
 * (--max-old-space-size=96) and a small memory budget (MEMORY_BUDGET_MB=256), 200 messages of
 * 16 KB in a room, 10 members whose sockets never read asking HISTORY (Limit 200) 18 times a
 * second. The process must live, its RSS stay under the budget, the non-reading members be
 * told `busy`, and a reading member of another room get every live message and page that
 * room's whole history (cut to CHAT_HISTORY_MAX_BYTES, continued from MAY_HAVE_MORE). Before
 * the budget and the HISTORY bounds, the process ran out of heap and died (SIGABRT).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { Client, REDIS_URL, SECRET, sleep, testChannels, token, type Frame } from '../support/harness.js';
import { ServiceProcess } from '../support/service-process.js';

const MIB = 1024 * 1024;
const BUDGET_MB = 256;
const IDLE_SOCKETS = 10;
const BIG = { Type: 'GLOBAL', RoomTypeObject: 'big' };
const READING = { Type: 'GLOBAL', RoomTypeObject: 'reading' };
const LIVE = { Type: 'GLOBAL', RoomTypeObject: 'live' };
/** 16,000 bytes of UTF-8 in 3,995 characters: within CHAT_MAX_MESSAGE_LENGTH (4,000). */
const big = (i: number) => `${String(i).padStart(4, '0')} ${'😀'.repeat(3995)}`;
const history = (Room: object, Offset: number, Limit: number) => ({ '@type': 'HISTORY', Room, Message: { Message: JSON.stringify({ Offset, Limit }) } });

/** The process's peak RSS since `resetPeak`, from /proc (NaN once it is gone). */
function peakRss(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
  } catch {
    return NaN;
  }
}
const resetPeak = (pid: number) => writeFileSync(`/proc/${pid}/clear_refs`, '5');

describe('non-reading chat sockets stay within the memory budget', () => {
  let service: ServiceProcess;
  const clients: Client[] = [];

  beforeAll(async () => {
    service = await ServiceProcess.start(
      {
        JWT_SECRET: SECRET,
        REDIS_URL,
        ...testChannels(),
        MEMORY_BUDGET_MB: String(BUDGET_MB),
        MEMORY_MARGIN_PERCENT: '25',
        // Filling the rooms fast; no rate plays a part in what is measured.
        CHAT_MESSAGE_RATE: '1000',
        CHAT_USER_MESSAGE_RATE: '1000',
        CHAT_USER_JOIN_RATE: '1000',
        CLIENT_FRAME_RATE: '1000',
        CLIENT_FRAME_BURST: '1000',
        // A paused socket cannot answer pings: the liveness check would cut it before the test ends.
        PING_INTERVAL_MS: '600000',
      },
      { nodeArgs: ['--max-old-space-size=96', '--max-semi-space-size=16'] },
    );
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.socket.terminate();
    await service?.stop();
  });

  const open = async (user: string) => {
    const c = await Client.subscribed(`${service.wsUrl}/chat`, token({ name: user }));
    clients.push(c);
    return c;
  };
  const join = async (c: Client, room: object) => {
    const from = c.frames.length;
    c.send({ '@type': 'JOIN', Room: room });
    return (await c.next((f) => c.frames.indexOf(f) >= from && f['@type'] === 'ROOM_UPDATE', 10_000)).Room as { Uuid: string };
  };
  const post = async (c: Client, roomUuid: string, text: string) => {
    const from = c.frames.length;
    c.send({ '@type': 'POST', Message: { RoomUuid: roomUuid, Message: text } });
    await c.next((f) => c.frames.indexOf(f) >= from && f.RoomUuid === roomUuid && f.Message === text, 10_000);
  };

  /** Pages the room from the newest, from MAY_HAVE_MORE's Offset, again later when refused; the texts received. */
  async function readHistory(c: Client, room: object, roomUuid: string, count: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let offset = 0, asked = 0; seen.size < count && asked < 500; asked++) {
      const from = c.frames.length;
      c.send(history(room, offset, 200));
      const end = await c.next(
        (f) => c.frames.indexOf(f) >= from && ((f['@type'] === 'MAY_HAVE_MORE' && f.RoomUuid === roomUuid) || f['@type'] === 'error' || since(c, from).filter(isMessageOf(roomUuid)).length + seen.size >= count),
        20_000,
      );
      for (const m of since(c, from).filter(isMessageOf(roomUuid))) seen.add(String(m.Message).slice(0, 4));
      if (end['@type'] === 'error') {
        expect(end).toMatchObject({ code: 'busy', Room: room });
        await sleep(100); // refused while the instance is at its budget: the same page, later
      } else if (end['@type'] === 'MAY_HAVE_MORE') offset = end.Offset as number;
    }
    return seen;
  }
  const since = (c: Client, from: number) => c.frames.slice(from);
  /** A stored 16 KB message of the room (not a live one). */
  const isMessageOf = (roomUuid: string) => (f: Frame) => f.RoomUuid === roomUuid && f['@type'] === undefined && /^\d{4} /.test(String(f.Message));

  it('keeps RSS under MEMORY_BUDGET_MB, tells the non-reading sockets busy, and serves a reading member in full', async () => {
    const writer = await open('writer');
    const bigRoom = await join(writer, BIG);
    const readingRoom = await join(writer, READING);
    const liveRoom = await join(writer, LIVE);
    for (let i = 0; i < 200; i++) await post(writer, bigRoom.Uuid, big(i));
    // 100 x 16 KB: over CHAT_HISTORY_MAX_BYTES (1 MiB), so the reader's pages are cut.
    for (let i = 0; i < 100; i++) await post(writer, readingRoom.Uuid, big(i));

    const idle: Client[] = [];
    for (let i = 0; i < IDLE_SOCKETS; i++) {
      const c = await open(`idle-${i}`);
      await join(c, BIG);
      (c.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      idle.push(c);
    }
    const reader = await open('reader');
    await join(reader, READING);
    await join(reader, LIVE);

    resetPeak(service.proc.pid!);
    const askers = idle.map((c) => setInterval(() => c.send(history(BIG, 0, 200)), 1000 / 18));
    const live: string[] = [];
    const started = Date.now();
    let passes = 0;
    try {
      // Meanwhile the writer posts to a room of the reader's, and the reader pages another's whole history, again and again.
      const posting = (async () => {
        for (let i = 0; Date.now() - started < 6000; i++) {
          live.push(`live ${i}`);
          await post(writer, liveRoom.Uuid, `live ${i}`);
          await sleep(50);
        }
      })();
      posting.catch(() => {}); // awaited below; a failure of the loop first must not leave it unhandled
      while (Date.now() - started < 6000) {
        const seen = await readHistory(reader, READING, readingRoom.Uuid, 100);
        expect(seen.size).toBeGreaterThanOrEqual(100);
        passes++;
      }
      await posting;
    } catch (err) {
      // Say why: before the bounds, the process died of an exhausted heap here.
      throw new Error(`${(err as Error).message.slice(0, 300)}; service ${service.alive ? 'alive' : `died: ${JSON.stringify(service.exit)}`}, peak RSS ${(peakRss(service.proc.pid!) / MIB).toFixed(0)} MiB`, { cause: err });
    } finally {
      askers.forEach(clearInterval);
    }
    const peak = peakRss(service.proc.pid!);

    expect(service.alive).toBe(true);
    expect(passes).toBeGreaterThanOrEqual(1);
    expect(peak).toBeLessThan(BUDGET_MB * MIB);
    // Every live message reached the reader, in order.
    await reader.next((f) => f.Message === live[live.length - 1], 10_000);
    expect(reader.frames.filter((f) => String(f.Message).startsWith('live ')).map((f) => f.Message)).toEqual(live);
    // The non-reading sockets, once they read, find their refusals: error frames with the code `busy`.
    const first = idle[0];
    (first.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await first.next((f) => f['@type'] === 'error', 20_000)).toMatchObject({ code: 'busy', Room: BIG });
  }, 180_000);
});
