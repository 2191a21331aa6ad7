import { describe, it, expect, jest } from '@jest/globals';
import type { Identity } from '../../src/auth/identity.js';
import type { RoomType } from '../../src/chat/chat-types.js';
import { NodeAccessClient } from '../../src/chat/node-access.js';
import { roomAccess, type NodePermission } from '../../src/chat/room-access.js';

const alice: Identity = {
  user: 'alice',
  subject: 'sub-alice',
  profile: 'standard',
  roles: [],
  workspaces: [{ uuid: 'w1', slug: 'projects', roots: [{ path: 'pydiods1/projects' }] }],
  subjects: ['*', 'user:alice', 'profile:standard'],
};

describe('roomAccess (PROTOCOL 4: every room type is checked)', () => {
  const rw: NodePermission = { read: true, write: true };
  const ro: NodePermission = { read: true, write: false };
  const none: NodePermission = { read: false, write: false };
  const writeOnly: NodePermission = { read: false, write: true };

  const table: Array<[string, RoomType, string, NodePermission | undefined, boolean, boolean, RegExp | undefined]> = [
    // name, Type, RoomTypeObject, node answer, allowed, readOnly, reason
    ['GLOBAL: any subscribed user', 'GLOBAL', '', undefined, true, false, undefined],
    ['WORKSPACE in session', 'WORKSPACE', 'w1', undefined, true, false, undefined],
    ['WORKSPACE not in session', 'WORKSPACE', 'w2', undefined, false, false, /workspace/],
    ['WORKSPACE slug is not a uuid', 'WORKSPACE', 'projects', undefined, false, false, /workspace/],
    ['USER: single login', 'USER', 'alice', undefined, true, false, undefined],
    ['USER: one of a list', 'USER', 'bob,alice', undefined, true, false, undefined],
    ['USER: list with spaces', 'USER', 'bob, alice', undefined, true, false, undefined],
    ['USER: not named', 'USER', 'bob,carol', undefined, false, false, /user/],
    ['USER: substring trap (longer login)', 'USER', 'alice2,bob', undefined, false, false, /user/],
    ['USER: substring trap (shorter login)', 'USER', 'ali', undefined, false, false, /user/],
    ['USER: substring trap (whole string)', 'USER', 'malice', undefined, false, false, /user/],
    ['USER: case differs', 'USER', 'Alice', undefined, false, false, /user/],
    ['NODE read+write', 'NODE', 'n1', rw, true, false, undefined],
    ['NODE read-only', 'NODE', 'n1', ro, true, true, /read-only/],
    ['NODE no read', 'NODE', 'n1', none, false, false, /not readable/],
    ['NODE write without read', 'NODE', 'n1', writeOnly, false, false, /not readable/],
    ['NODE no answer', 'NODE', 'n1', undefined, false, false, /node authorization unavailable/],
    ['ANY is refused', 'ANY', 'x', rw, false, false, /unknown room type/],
  ];

  it.each(table)('%s', (_name, Type, RoomTypeObject, node, allowed, readOnly, reason) => {
    const access = roomAccess({ Type, RoomTypeObject }, alice, node);
    expect(access.allowed).toBe(allowed);
    expect(access.readOnly).toBe(readOnly);
    if (reason) expect(access.reason).toMatch(reason);
    else expect(access.reason).toBeUndefined();
  });

  it('a user with no workspaces gets no WORKSPACE room', () => {
    expect(roomAccess({ Type: 'WORKSPACE', RoomTypeObject: 'w1' }, { ...alice, workspaces: [] }, undefined).allowed).toBe(false);
  });
});

type FetchFn = typeof fetch;

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/** A fake endpoint that answers `answer` and records the calls. */
function fakeFetch(answer: () => Promise<Response>) {
  return jest.fn<FetchFn>(() => answer());
}

describe('NodeAccessClient', () => {
  const url = 'http://authz.test/node';

  it('POSTs the node uuid with the bearer token and reads {read, write}', async () => {
    const fetchFn = fakeFetch(async () => jsonResponse({ read: true, write: false }));
    const client = new NodeAccessClient({ url, fetchFn });
    await expect(client.check('tok', 'n1')).resolves.toEqual({ read: true, write: false });
    expect(fetchFn).toHaveBeenCalledTimes(1);
    const [calledUrl, init] = fetchFn.mock.calls[0];
    expect(calledUrl).toBe(url);
    expect(init?.method).toBe('POST');
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(JSON.parse(init?.body as string)).toEqual({ NodeUuid: 'n1' });
  });

  it.each([
    ['capitalised fields', { Read: true, Write: true }, { read: true, write: true }],
    ['omitted false field (protobuf JSON)', { Read: true }, { read: true, write: false }],
    ['empty object = no rights', {}, { read: false, write: false }],
  ])('accepts %s', async (_name, body, expected) => {
    const client = new NodeAccessClient({ url, fetchFn: fakeFetch(async () => jsonResponse(body)) });
    await expect(client.check('tok', 'n1')).resolves.toEqual(expected);
  });

  it('answers from the cache within ttlMs, per (token, node), and asks again after', async () => {
    let now = 1_000;
    const fetchFn = fakeFetch(async () => jsonResponse({ read: true, write: true }));
    const client = new NodeAccessClient({ url, fetchFn, ttlMs: 500, now: () => now });
    await client.check('tok', 'n1');
    await client.check('tok', 'n1');
    expect(fetchFn).toHaveBeenCalledTimes(1);
    await client.check('tok', 'n2');
    await client.check('other', 'n1');
    expect(fetchFn).toHaveBeenCalledTimes(3);
    now += 501;
    await expect(client.check('tok', 'n1')).resolves.toEqual({ read: true, write: true });
    expect(fetchFn).toHaveBeenCalledTimes(4);
  });

  it('keeps at most maxEntries answers, evicting the oldest', async () => {
    const fetchFn = fakeFetch(async () => jsonResponse({ read: true, write: true }));
    const client = new NodeAccessClient({ url, fetchFn, maxEntries: 2 });
    await client.check('tok', 'n1');
    await client.check('tok', 'n2');
    await client.check('tok', 'n3');
    expect(client.size).toBe(2);
    await client.check('tok', 'n3'); // still cached
    expect(fetchFn).toHaveBeenCalledTimes(3);
    await client.check('tok', 'n1'); // evicted: asked again
    expect(fetchFn).toHaveBeenCalledTimes(4);
  });

  const failures: Array<[string, () => Promise<Response>]> = [
    ['network error', async () => Promise.reject(new Error('ECONNREFUSED'))],
    ['HTTP 403', async () => jsonResponse({ read: true, write: true }, 403)],
    ['HTTP 500', async () => jsonResponse({ read: true, write: true }, 500)],
    ['not JSON', async () => new Response('<html>', { status: 200 })],
    ['JSON array', async () => jsonResponse([true, true])],
    ['non-boolean field', async () => jsonResponse({ read: 'yes', write: false })],
  ];

  it.each(failures)('%s: undefined (deny), and nothing is cached', async (_name, answer) => {
    const fetchFn = fakeFetch(answer);
    const client = new NodeAccessClient({ url, fetchFn });
    await expect(client.check('tok', 'n1')).resolves.toBeUndefined();
    expect(client.size).toBe(0);
    await client.check('tok', 'n1');
    expect(fetchFn).toHaveBeenCalledTimes(2);
  });

  it('times out a slow endpoint: undefined, the request is aborted, nothing cached', async () => {
    let signal: AbortSignal | undefined;
    const fetchFn = jest.fn<FetchFn>((_url, init) => {
      signal = init?.signal ?? undefined;
      return new Promise<Response>(() => {}); // never answers, even when aborted
    });
    const client = new NodeAccessClient({ url, fetchFn, timeoutMs: 30 });
    const started = Date.now();
    await expect(client.check('tok', 'n1')).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(signal?.aborted).toBe(true);
    expect(client.size).toBe(0);
  });

  it('without a url: undefined, and no request', async () => {
    const fetchFn = fakeFetch(async () => jsonResponse({ read: true, write: true }));
    const client = new NodeAccessClient({ fetchFn });
    await expect(client.check('tok', 'n1')).resolves.toBeUndefined();
    expect(fetchFn).not.toHaveBeenCalled();
  });
});
