/**
 * A room filling up costs O(n) ROOM_UPDATE frames, not O(n^2) (issue 13): the presence
 * changes of a room go out at most once per CHAT_ROOM_UPDATE_WINDOW_MS, together, so a member
 * receives a number of ROOM_UPDATEs bounded by the length of a JOIN burst, not by its size;
 * and every member ends up shown every member.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Backend, Client, REDIS_URL, framesBefore, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { isUpdate, joinRoom } from '../support/chat.js';

const tag = randomBytes(4).toString('hex');
const WINDOW_MS = 500;
const K = 30;

describe('/chat JOIN burst', () => {
  const ch = testChannels();
  let app: Instance;
  let backend: Backend;
  const clients: Client[] = [];
  const W = ws(`w-${tag}-burst`, 'burst', 'pydiods1/burst');
  const ref = { Type: 'WORKSPACE', RoomTypeObject: W.uuid };

  const connect = async (name: string) => {
    const c = await Client.subscribed(`${app.wsUrl}/chat`, token({ name, workspaces: [W] }));
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    backend = new Backend();
    // No presence expiry, no per-user JOIN limit in the way: only the window shapes the updates.
    app = await startInstance({ ...ch, REDIS_URL, CHAT_ROOM_UPDATE_WINDOW_MS: String(WINDOW_MS), CHAT_PRESENCE_TIMEOUT_MS: '60000' });
    await waitSubscribed(backend, ch.CHANNEL_CHAT);
  });

  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  it(`sends each member a few ROOM_UPDATEs during a burst of ${K} JOINs, the last one listing everybody`, async () => {
    const observer = await connect(`observer-${tag}`);
    const joiners = await Promise.all(Array.from({ length: K }, (_, i) => connect(`user-${i}-${tag}`)));
    const room = await joinRoom(observer, ref);
    const members = [observer, ...joiners];
    const from = members.map((c) => c.frames.length);

    const t0 = Date.now();
    // Each resolves on the joiner's first ROOM_UPDATE of the room: the one that lists it.
    await Promise.all(joiners.map((c) => joinRoom(c, ref)));
    const burstMs = Date.now() - t0;
    const everybody = [`observer-${tag}`, ...joiners.map((_, i) => `user-${i}-${tag}`)].sort();
    await Promise.all(members.map((c) => c.next(isUpdate(room.Uuid, everybody))));

    // Barrier: one more member. Its ROOM_UPDATE goes out after every update of the burst (one
    // window at a time per room, published in the order the board was written).
    const late = `late-${tag}`;
    await joinRoom(await connect(late), ref);
    const withLate = [...everybody, late].sort();
    const isRoomUpdate = (f: Frame) => f['@type'] === 'ROOM_UPDATE';
    const counts = await Promise.all(members.map(async (c, i) => (await framesBefore(c, from[i], isUpdate(room.Uuid, withLate))).filter(isRoomUpdate).length));

    // At most one update per window: the burst spans at most ceil(burstMs / window) + 1 of them
    // (the last joiner's answer is the last update of the burst). Without coalescing the
    // observer would receive K.
    const bound = Math.ceil(burstMs / WINDOW_MS) + 1;
    expect(bound).toBeLessThan(K);
    expect(Math.max(...counts)).toBeLessThanOrEqual(bound);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
  });
});
