/**
 * The client's chat API against a real Switchboard on a real Redis: presence, posts, history
 * paging, deletion, re-joining right after a restart (not at the next heartbeat), and one
 * heartbeat timer however often the socket comes back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Switchboard, type ChatMessage, type RoomRef, type Status } from '../../client/src/index.js';
import { Recorder, RecordingSocket, RecordingWebSocket, restart } from '../support/client-harness.js';
import { Backend, REDIS_URL, startInstance, testChannels, token, waitSubscribed, type Instance } from '../support/harness.js';

const tag = randomBytes(4).toString('hex');
const sameUsers = (users: string[]) => (seen: string[]) => JSON.stringify([...seen].sort()) === JSON.stringify([...users].sort());

describe('@switchboard/client chat against the service', () => {
  const ch = testChannels();
  let app: Instance;
  let backend: Backend;
  const clients: Switchboard[] = [];

  function member(name: string, ref: RoomRef, options: { heartbeatMs?: number; pageSize?: number; expiresIn?: number } = {}) {
    const c = new Switchboard({ url: app.url, token: () => token({ name, n: Math.random() }, { expiresIn: options.expiresIn }), WebSocket: RecordingSocket, random: () => 0.5, backoff: { initialMs: 40, maxMs: 160 }, autoConnect: true, ...options });
    clients.push(c);
    const room = c.chat.join(ref);
    const messages = new Recorder<ChatMessage>();
    const presence = new Recorder<string[]>();
    const more = new Recorder<boolean>();
    room.on('message', messages.push);
    room.on('presence', presence.push);
    room.on('more', more.push);
    return { c, room, messages, presence, more };
  }

  beforeAll(async () => {
    backend = new Backend();
    app = await startInstance({ ...ch, REDIS_URL, TOKEN_EXPIRY_GRACE_SECONDS: '0' });
    await waitSubscribed(backend, ch.CHANNEL_CHAT);
  });

  afterEach(() => {
    clients.splice(0).forEach((c) => c.close());
    RecordingWebSocket.reset();
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  it('shows presence, posts, pages the history with MAY_HAVE_MORE and deletes', async () => {
    const ref: RoomRef = { Type: 'GLOBAL', RoomTypeObject: `lobby-${tag}` };
    const alice = member(`alice-${tag}`, ref, { pageSize: 2 });
    const bob = member(`bob-${tag}`, ref, { pageSize: 2 });
    await alice.presence.next(sameUsers([`alice-${tag}`, `bob-${tag}`]));

    for (const text of ['one', 'two', 'three']) alice.room.post(text);
    const three = await bob.messages.next((m) => m.Message === 'three');
    expect(three.Author).toBe(`alice-${tag}`);

    const carol = member(`carol-${tag}`, ref, { pageSize: 2 });
    await carol.more.next();
    expect(carol.messages.items.map((m) => m.Message)).toEqual(['two', 'three']);
    expect(carol.room.mayHaveMore).toBe(true);
    carol.room.loadMore();
    expect((await carol.messages.next((m) => m.Message === 'one')).Author).toBe(`alice-${tag}`);

    const deleted = new Recorder<{ Uuid: string }>();
    bob.room.on('delete', deleted.push);
    alice.room.delete(three.Uuid);
    expect((await deleted.next()).Uuid).toBe(three.Uuid);
  });

  it('joins its rooms again right after a restart (heartbeat far away) and fetches the history', async () => {
    const ref: RoomRef = { Type: 'GLOBAL', RoomTypeObject: `restart-${tag}` };
    // A minute between heartbeats: only the re-join can bring presence back within the test.
    const alice = member(`alice-${tag}`, ref, { heartbeatMs: 60_000 });
    const bob = member(`bob-${tag}`, ref, { heartbeatMs: 60_000 });
    await alice.presence.next(sameUsers([`alice-${tag}`, `bob-${tag}`]));
    alice.room.post('before restart');
    await bob.messages.next((m) => m.Message === 'before restart');
    const statuses = new Recorder<Status>();
    alice.c.chat.on('status', statuses.push);

    const [presenceMark, messageMark] = [alice.presence.items.length, alice.messages.items.length];
    app = await restart(app);
    await statuses.next((s) => s.state === 'live', 10_000);
    await alice.presence.next(sameUsers([`alice-${tag}`, `bob-${tag}`]), 10_000, presenceMark);
    // The history comes again after the re-join (the caller keys messages by Uuid).
    await alice.messages.next((m) => m.Message === 'before restart', 5000, messageMark);

    await waitSubscribed(backend, ch.CHANNEL_CHAT);
    bob.room.post('after restart');
    expect((await alice.messages.next((m) => m.Message === 'after restart', 10_000)).Author).toBe(`bob-${tag}`);
  });

  it('renews its token on /chat before expiry (the server sends no `expiring` there): same socket, still posting', async () => {
    const ref: RoomRef = { Type: 'GLOBAL', RoomTypeObject: `renew-${tag}` };
    const alice = member(`alice-${tag}`, ref, { expiresIn: 3 });
    const statuses = new Recorder<Status>();
    alice.c.chat.on('status', statuses.push);
    await alice.presence.next();
    const chatSockets = () => RecordingWebSocket.opened.filter((u) => u.endsWith('/chat')).length;
    const subscribes = () => RecordingWebSocket.sent.filter((f) => f['@type'] === 'subscribe').length;
    const before = subscribes();
    // Past the first token's expiry (3 s, no grace): without renewal the server closes 4401.
    await new Promise((r) => setTimeout(r, 3500));
    expect(subscribes()).toBeGreaterThan(before);
    alice.room.post('still here');
    await alice.messages.next((m) => m.Message === 'still here');
    expect(chatSockets()).toBe(1);
    expect(statuses.items).toEqual([{ state: 'live' }]); // and never left it
  });

  it('sends the PING heartbeat from one timer, however often the socket came back', async () => {
    const ref: RoomRef = { Type: 'GLOBAL', RoomTypeObject: `ping-${tag}` };
    const alice = member(`alice-${tag}`, ref, { heartbeatMs: 200 });
    const statuses = new Recorder<Status>();
    alice.c.chat.on('status', statuses.push);
    await alice.presence.next();
    for (let i = 0; i < 3; i++) {
      alice.c.chat.drop();
      await statuses.nextNew((s) => s.state === 'live');
    }
    const pings = () => RecordingWebSocket.sent.filter((f) => (f.Message as { Message?: string } | undefined)?.Message === 'PING').length;
    const before = pings();
    await new Promise((r) => setTimeout(r, 2000));
    // One timer: about 10 PINGs in 2 s (4 piled-up timers would send about 40).
    const sent = pings() - before;
    expect(sent).toBeGreaterThanOrEqual(4);
    expect(sent).toBeLessThanOrEqual(12);
  });
});
