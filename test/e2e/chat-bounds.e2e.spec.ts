/**
 * Two chat bounds at their edge, embedded mode (no Redis): a message's length is counted in
 * characters (code points), so astral characters (emoji: two UTF-16 units each) fit up to the
 * limit; and CHAT_MAX_ROOMS_PER_SESSION holds when the room to join exists already.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, startInstance, token, type Instance } from '../support/harness.js';
import { isError, isMessage, joinAnswer, joinRoom } from '../support/chat.js';

describe('/chat bounds at their edge (embedded)', () => {
  let app: Instance;
  const clients: Client[] = [];
  const open = async (name: string) => {
    const c = await Client.subscribed(`${app.wsUrl}/chat`, token({ name }));
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    app = await startInstance({ REDIS_URL: undefined, CHAT_MAX_MESSAGE_LENGTH: '10', CHAT_MAX_ROOMS_PER_SESSION: '2' });
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await app?.close();
  });

  it.each<[string, boolean, string]>([
    ['10 emoji (20 UTF-16 units)', true, '😀'.repeat(10)],
    ['11 emoji', false, '😀'.repeat(11)],
    ['10 letters', true, 'a'.repeat(10)],
    ['11 letters', false, 'a'.repeat(11)],
  ])('a message of %s: accepted %s', async (_name, accepted, text) => {
    const c = await open(`poster-${text.length}-${accepted}`);
    const room = await joinRoom(c, { Type: 'GLOBAL', RoomLabel: 'edge' });
    c.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: text } });
    const answer = await c.next((f) => isMessage(text)(f) || isError(/^message longer than/)(f));
    expect(isMessage(text)(answer)).toBe(accepted);
  });

  it('refuses a third room to a session in two, when that room exists already', async () => {
    const other = await open('creator');
    await joinRoom(other, { Type: 'GLOBAL', RoomTypeObject: 'third', RoomLabel: 'third' });
    const c = await open('joiner');
    await joinRoom(c, { Type: 'GLOBAL', RoomTypeObject: 'first' });
    await joinRoom(c, { Type: 'GLOBAL', RoomTypeObject: 'second' });
    const answer = await joinAnswer(c, { Type: 'GLOBAL', RoomTypeObject: 'third' });
    expect(answer).toMatchObject({ '@type': 'error', code: 'too_many_rooms', error: 'more than 2 rooms' });
  });
});
