/**
 * The wire extensions @switchboard/client relies on, with raw `ws` clients: the opt-in visible
 * ping (and nothing for a client that did not ask: a Cells client sees no change), client ids on
 * POST and DELETE_MSG answered exactly once (ack or refusal with the id and the room), nothing
 * new without an id, and the per-room Seq on live messages.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, framesBefore, startInstance, token, type Frame, type Instance } from '../support/harness.js';

describe('client extensions: heartbeat, acks, Seq (embedded mode)', () => {
  let app: Instance;
  beforeAll(async () => {
    app = await startInstance({ PING_INTERVAL_MS: '200', CHAT_MESSAGE_RATE: '3' });
  });
  afterAll(async () => app?.close());

  it.each(['/ws', '/chat'])('%s: heartbeat true: the ack states pingIntervalMs and ping frames follow; without it, neither', async (path) => {
    const asked = await Client.connect(`${app.wsUrl}${path}`);
    asked.send({ '@type': 'subscribe', jwt: token({ name: 'alice' }), heartbeat: true });
    expect(await asked.next((f) => f['@type'] === 'subscribed')).toMatchObject({ pingIntervalMs: 200 });
    await asked.next((f) => f['@type'] === 'ping', 2000);
    const from = asked.frames.length;
    await asked.next((f) => f['@type'] === 'ping' && asked.frames.indexOf(f) >= from, 2000); // and again

    const cells = await Client.connect(`${app.wsUrl}${path}`);
    cells.send({ '@type': 'subscribe', jwt: token({ name: 'bob' }) });
    const ack = await cells.next((f) => f['@type'] === 'subscribed');
    expect(ack.pingIntervalMs).toBeUndefined();
    // Barrier: two pings reached the other socket after this one was acked; none reached this one.
    const mark = asked.frames.length;
    await asked.next((f) => f['@type'] === 'ping' && asked.frames.indexOf(f) >= mark, 2000);
    await asked.next((f) => f['@type'] === 'ping' && asked.frames.indexOf(f) > asked.frames.findIndex((g, i) => i >= mark && g['@type'] === 'ping'), 2000);
    cells.send({ '@type': 'subscribe', jwt: token({ name: 'bob' }) }); // a later frame on the same socket: the barrier
    const frames = await framesBefore(cells, 1, (f) => f['@type'] === 'subscribed');
    expect(frames.filter((f) => f['@type'] === 'ping')).toEqual([]);
    asked.socket.close();
    cells.socket.close();
  });

  it('answers each POST / DELETE_MSG with an id exactly once: ack with Uuid and Seq, or the refusal with id, code and room', async () => {
    const alice = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'alice' }));
    alice.send({ '@type': 'JOIN', Room: { Type: 'GLOBAL', RoomTypeObject: 'acks' } });
    const room = (await alice.next((f) => f['@type'] === 'ROOM_UPDATE')).Room as { Uuid: string };
    alice.send({ '@type': 'POST', id: 'p1', Message: { RoomUuid: room.Uuid, Message: 'one' } });
    const ack1 = await alice.next((f) => f.id === 'p1');
    expect(ack1).toEqual({ '@type': 'ack', id: 'p1', RoomUuid: room.Uuid, Uuid: expect.any(String), Seq: 1 });
    expect(await alice.next((f) => f.Message === 'one')).toMatchObject({ Uuid: ack1.Uuid, Seq: 1 });

    alice.send({ '@type': 'POST', id: 'p2', Message: { RoomUuid: room.Uuid, Message: 'x'.repeat(4001) } });
    expect(await alice.next((f) => f.id === 'p2')).toEqual({ '@type': 'error', code: 'message_too_long', error: 'message longer than 4000 characters', Room: { Uuid: room.Uuid }, id: 'p2' });
    alice.send({ '@type': 'POST', id: 'p3', Message: { RoomUuid: 'not-joined', Message: 'hi' } });
    expect(await alice.next((f) => f.id === 'p3')).toMatchObject({ '@type': 'error', code: 'room_not_joined', Room: { Uuid: 'not-joined' } });
    alice.send({ '@type': 'POST', id: 'p4', Message: 'not an object' });
    expect(await alice.next((f) => f.id === 'p4')).toMatchObject({ '@type': 'error', code: 'bad_frame' });
    alice.send({ '@type': 'POST', id: 'x'.repeat(65), Message: { RoomUuid: room.Uuid, Message: 'long id' } });
    const badId = await alice.next((f) => f.code === 'bad_frame' && String(f.error).startsWith('id '));
    expect(badId.id).toBeUndefined();

    alice.send({ '@type': 'DELETE_MSG', id: 'd1', Message: { Uuid: ack1.Uuid as string, RoomUuid: room.Uuid } });
    expect(await alice.next((f) => f.id === 'd1')).toEqual({ '@type': 'ack', id: 'd1', RoomUuid: room.Uuid, Uuid: ack1.Uuid });
    alice.send({ '@type': 'DELETE_MSG', id: 'd2', Message: { Uuid: ack1.Uuid as string, RoomUuid: room.Uuid } });
    expect(await alice.next((f) => f.id === 'd2')).toMatchObject({ '@type': 'error', code: 'message_not_found', id: 'd2' });

    // Exactly once: a barrier POST after all of them; one answer per id before it.
    alice.send({ '@type': 'POST', id: 'last', Message: { RoomUuid: room.Uuid, Message: 'two' } });
    const last = await alice.next((f) => f.id === 'last', 3000).catch(async () => {
      // CHAT_MESSAGE_RATE is 3/s here: the barrier may be refused rate_limited, still answered once.
      return alice.next((f) => f.id === 'last');
    });
    expect(['ack', 'error']).toContain(last['@type']);
    const ids = alice.frames.filter((f: Frame) => typeof f.id === 'string').map((f) => f.id);
    expect(ids.filter((id) => id !== 'x'.repeat(65))).toEqual(['p1', 'p2', 'p3', 'p4', 'd1', 'd2', 'last']);
    alice.socket.close();
  });

  it('a POST without an id gets no ack and its refusal no id (Cells sees no change)', async () => {
    const bob = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'bob' }));
    bob.send({ '@type': 'JOIN', Room: { Type: 'GLOBAL', RoomTypeObject: 'no-ids' } });
    const room = (await bob.next((f) => f['@type'] === 'ROOM_UPDATE')).Room as { Uuid: string };
    bob.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: 'plain' } });
    bob.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: '' } });
    const from = bob.frames.length;
    bob.send({ '@type': 'POST', id: 'barrier', Message: { RoomUuid: room.Uuid, Message: 'barrier' } });
    await bob.next((f) => f.id === 'barrier');
    const before = bob.frames.slice(0, bob.frames.findIndex((f) => f.id === 'barrier'));
    expect(before.filter((f) => f['@type'] === 'ack')).toEqual([]);
    expect(before.find((f) => f.code === 'empty_message')).toEqual({ '@type': 'error', error: 'empty message', code: 'empty_message', Room: { Uuid: room.Uuid } });
    expect(from).toBeGreaterThan(0);
    bob.socket.close();
  });
});
