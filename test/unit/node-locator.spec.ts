import { describe, expect, it } from '@jest/globals';
import type { Config } from '../../src/config/config.js';
import { LocatingQueue } from '../../src/delivery/locating-queue.js';
import type { TopicHandler } from '../../src/delivery/topic.js';
import { MetaTopic } from '../../src/topics/meta.topic.js';
import type { NodeChangeEvent } from '../../src/topics/node-event.js';
import { NodeLocator, needsLookup, withPath } from '../../src/topics/node-locator.js';
import { TreeTopic } from '../../src/topics/tree.topic.js';

/** A fetch answering from a table; `hold` keeps answers until released. */
function fakeFetch(answers: Record<string, { status: number; body: unknown }>) {
  const calls: string[] = [];
  const pending: Array<() => void> = [];
  const fn = ((url: URL) => {
    const uuid = url.searchParams.get('uuid') ?? '';
    calls.push(uuid);
    const a = answers[uuid] ?? { status: 404, body: {} };
    return new Promise<Response>((resolve) => pending.push(() => resolve(new Response(JSON.stringify(a.body), { status: a.status }))));
  }) as unknown as typeof fetch;
  return { fn, calls, release: () => pending.splice(0).forEach((r) => r()) };
}
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('NodeLocator', () => {
  it.each<[string, { status: number; body: unknown }, string | undefined]>([
    ['{"Path"}', { status: 200, body: { Path: 'ds/a/b.txt' } }, 'ds/a/b.txt'],
    ["Cells' ReadNodeResponse {\"Node\":{\"Path\"}}, slashes trimmed", { status: 200, body: { Node: { Uuid: 'u', Path: '/ds/a/' } } }, 'ds/a'],
    ['404', { status: 404, body: {} }, undefined],
    ['500', { status: 500, body: { Path: 'x' } }, undefined],
    ['no path', { status: 200, body: { Node: { Uuid: 'u' } } }, undefined],
    ['empty path', { status: 200, body: { Path: '/' } }, undefined],
    ['path of the wrong type', { status: 200, body: { Path: 42 } }, undefined],
    ['not an object', { status: 200, body: ['x'] }, undefined],
  ])('answer %s -> %s', async (_name, answer, expected) => {
    const f = fakeFetch({ u: answer });
    const locator = new NodeLocator({ url: 'http://lookup/nodes', fetchFn: f.fn });
    const found = locator.locate('u');
    await tick();
    f.release();
    expect(await found).toBe(expected);
    expect(locator.size).toBe(expected === undefined ? 0 : 1);
  });

  it('caches with a TTL and a bound, and follows moves and deletions seen on the bus', async () => {
    let now = 0;
    const answers = { a: { status: 200, body: { Path: 'p/a' } }, b: { status: 200, body: { Path: 'p/b' } }, c: { status: 200, body: { Path: 'p/c' } } };
    const f = fakeFetch(answers);
    const locator = new NodeLocator({ url: 'http://lookup/nodes', fetchFn: f.fn, ttlMs: 1000, maxEntries: 2, now: () => now });
    const locate = async (uuid: string) => {
      const p = locator.locate(uuid);
      await tick();
      f.release();
      return p;
    };
    await locate('a');
    expect(locator.cached('a')).toBe('p/a');
    locator.observe({ Type: 'UPDATE_PATH', Source: { Uuid: 'a', Path: 'p/a' }, Target: { Uuid: 'a', Path: 'p/a2' } });
    expect(locator.cached('a')).toBe('p/a2');
    locator.observe({ Type: 'DELETE', Source: { Uuid: 'a', Path: 'p/a2' } });
    expect(locator.cached('a')).toBeUndefined();
    // A node it never looked up is not cached by observing it.
    locator.observe({ Type: 'CREATE', Target: { Uuid: 'z', Path: 'p/z' } });
    expect(locator.cached('z')).toBeUndefined();
    await locate('a');
    await locate('b');
    await locate('c'); // bound 2: 'a' goes
    expect([locator.cached('a'), locator.cached('b'), locator.cached('c')]).toEqual([undefined, 'p/b', 'p/c']);
    now = 1001;
    expect(locator.cached('b')).toBeUndefined();
  });

  it.each<[string, typeof fetch]>([
    ['unreachable (fetch rejects)', (() => Promise.reject(new TypeError('fetch failed'))) as unknown as typeof fetch],
    [
      'too slow (aborted by the timeout)',
      ((_url: URL, init: RequestInit) =>
        new Promise((_resolve, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))) as unknown as typeof fetch,
    ],
    ['a body that is not JSON', (() => Promise.resolve(new Response('<html>', { status: 200 }))) as unknown as typeof fetch],
    ['a body past 64 KiB', (() => Promise.resolve(new Response(JSON.stringify({ Path: 'x'.repeat(70_000) }), { status: 200 }))) as unknown as typeof fetch],
  ])('%s: undefined, not cached', async (_name, fetchFn) => {
    const locator = new NodeLocator({ url: 'http://lookup/nodes', fetchFn, timeoutMs: 50 });
    expect(await locator.locate('u')).toBeUndefined();
    expect(locator.size).toBe(0);
  });

  it('without a URL, never asks', async () => {
    const f = fakeFetch({});
    const locator = new NodeLocator({ fetchFn: f.fn });
    expect(locator.enabled).toBe(false);
    expect(await locator.locate('u')).toBeUndefined();
    expect(f.calls).toEqual([]);
  });
});

describe('needsLookup / withPath', () => {
  it.each<[string, NodeChangeEvent, boolean]>([
    ['Target without path, no Source', { Type: 'UPDATE_USER_META', Target: { Uuid: 'u' } }, true],
    ['Source without path (user meta) and Target without path', { Type: 'UPDATE_USER_META', Source: { Uuid: 'u' }, Target: { Uuid: 'u' } }, true],
    ['Target with a path', { Type: 'UPDATE_USER_META', Source: { Uuid: 'u' }, Target: { Uuid: 'u', Path: 'a' } }, false],
    ['Source with a path only', { Type: 'DELETE', Source: { Uuid: 'u', Path: 'a' } }, false],
    ['empty path', { Type: 'CREATE', Target: { Uuid: 'u', Path: '' } }, true],
  ])('%s -> %s', (_name, e, expected) => {
    expect(needsLookup(e)).toBe(expected);
  });

  it('sets the path on the Target, else the Source, on a copy', () => {
    const e: NodeChangeEvent = { Type: 'UPDATE_USER_META', Target: { Uuid: 'u' } };
    expect(withPath(e, 'p')).toEqual({ Type: 'UPDATE_USER_META', Target: { Uuid: 'u', Path: 'p' } });
    expect(e.Target).toEqual({ Uuid: 'u' });
    expect(withPath({ Type: 'DELETE', Source: { Uuid: 'u' } }, 'p')).toEqual({ Type: 'DELETE', Source: { Uuid: 'u', Path: 'p' } });
  });
});

describe('LocatingQueue', () => {
  const comment = (uuid: string): NodeChangeEvent => ({ Type: 'UPDATE_USER_META', Target: { Uuid: uuid, MetaStore: { comments: '"x"' } } });
  const del = (uuid: string): NodeChangeEvent => ({ Type: 'DELETE', Source: { Uuid: uuid, Path: `p/${uuid}` } });
  const setup = (answers: Record<string, { status: number; body: unknown }>, opts: { url?: string; maxLookups?: number; maxWaiting?: number } = {}) => {
    const f = fakeFetch(answers);
    const out: string[] = [];
    const locator = new NodeLocator({ url: 'url' in opts ? opts.url : 'http://lookup/nodes', fetchFn: f.fn });
    const config = { nodeBatchWindowMs: 0, nodeBatchMaxWaitMs: 0 } as Config;
    const handlers: Record<string, TopicHandler> = { tree: new TreeTopic(config, locator), meta: new MetaTopic(config, locator) };
    const queue = new LocatingQueue({
      deliver: (h, x) => {
        const e = x as NodeChangeEvent;
        out.push(`${h.topic} ${e.Type} ${e.Target?.Uuid ?? e.Source?.Uuid} ${e.Target?.Path ?? e.Source?.Path}`);
      },
      drop: (h, reason) => out.push(`${h.topic} dropped ${reason}`),
      maxLookups: opts.maxLookups,
      maxWaiting: opts.maxWaiting,
    });
    const q = { push: (e: NodeChangeEvent, topic: string) => queue.push(handlers[topic], e) };
    return { f, out, q };
  };

  it('holds a node\'s later events behind its lookup, not other nodes\'', async () => {
    const { f, out, q } = setup({ n: { status: 200, body: { Path: 'p/n' } } });
    q.push(comment('n'), 'meta');
    q.push(del('n'), 'tree');
    q.push(del('m'), 'tree');
    expect(out).toEqual(['tree DELETE m p/m']);
    await tick();
    f.release();
    await tick();
    expect(out).toEqual(['tree DELETE m p/m', 'meta UPDATE_USER_META n p/n', 'tree DELETE n p/n']);
  });

  it('drops and goes on when the lookup fails', async () => {
    const { f, out, q } = setup({});
    q.push(comment('n'), 'meta');
    q.push(del('n'), 'tree');
    await tick();
    f.release();
    await tick();
    expect(out).toEqual(['meta dropped lookup_failed', 'tree DELETE n p/n']);
  });

  it.each<[string, { url?: string; maxLookups?: number; maxWaiting?: number }, NodeChangeEvent[], string[]]>([
    ['no lookup URL', { url: undefined }, [comment('n')], ['meta dropped no_path']],
    ['no uuid at all', {}, [{ Type: 'UPDATE_USER_META', Target: { MetaStore: {} } }], ['meta dropped no_path']],
    ['too many lookups at once', { maxLookups: 1 }, [comment('a'), comment('b')], ['meta dropped lookup_busy']],
    ['too many events waiting behind one node', { maxWaiting: 1 }, [comment('a'), del('a'), del('a')], ['meta dropped lookup_busy']],
  ])('bounded: %s', (_name, opts, events, expected) => {
    const { out, q } = setup({}, opts);
    for (const e of events) q.push(e, 'meta');
    expect(out).toEqual(expected);
  });
});
