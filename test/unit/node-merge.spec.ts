import { describe, it, expect, jest, beforeEach, afterEach } from '@jest/globals';
import type { Config } from '../../src/config/config.js';
import { Coalescer } from '../../src/delivery/coalescer.js';
import type { TopicHandler } from '../../src/delivery/topic.js';
import type { NodeChangeEvent, TreeNode } from '../../src/topics/node-event.js';
import { NodeLocator } from '../../src/topics/node-locator.js';
import { isCoalesced, mergeNodeEvents } from '../../src/topics/node-merge.js';
import { MetaTopic } from '../../src/topics/meta.topic.js';
import { TreeTopic } from '../../src/topics/tree.topic.js';

/** The node topics as the delivery service sees them (their coalescing rules). */
const nodeTopics = (windowMs = 1000, maxWaitMs = 3000) => {
  const config = { nodeBatchWindowMs: windowMs, nodeBatchMaxWaitMs: maxWaitMs } as Config;
  const locator = new NodeLocator();
  return { tree: new TreeTopic(config, locator), meta: new MetaTopic(config, locator) } as Record<string, TopicHandler>;
};

/**
 * The delivery service's first steps for a live event (DeliveryService.accept): a merging
 * event into the coalescer, any other after its key's pending merge, at once.
 */
function accept(c: Coalescer, handler: TopicHandler, e: NodeChangeEvent, out: (h: TopicHandler, e: NodeChangeEvent) => void): void {
  const key = handler.coalesce!.key(e);
  if (key !== undefined) return c.add(key, handler, e);
  const after = handler.coalesce!.after?.(e);
  if (after !== undefined) c.flush(after);
  out(handler, e);
}

const ev = (Type: string, Target?: TreeNode, extra: Partial<NodeChangeEvent> = {}): NodeChangeEvent => ({
  Type,
  ...(Target ? { Target } : {}),
  ...extra,
});

describe('isCoalesced', () => {
  it.each<[string, NodeChangeEvent, boolean]>([
    ['CREATE with a uuid', ev('CREATE', { Uuid: 'u' }), true],
    ['UPDATE_CONTENT with a uuid', ev('UPDATE_CONTENT', { Uuid: 'u' }), true],
    ['UPDATE_META with a uuid', ev('UPDATE_META', { Uuid: 'u' }), true],
    ['CREATE without a Target', ev('CREATE', undefined, { Source: { Uuid: 'u' } }), false],
    ['CREATE with a Target but no uuid', ev('CREATE', { Path: 'a' }), false],
    ['CREATE with an empty uuid', ev('CREATE', { Uuid: '' }), false],
    ['UPDATE_PATH', ev('UPDATE_PATH', { Uuid: 'u' }), false],
    ['UPDATE_USER_META', ev('UPDATE_USER_META', { Uuid: 'u' }), false],
    ['DELETE', ev('DELETE', { Uuid: 'u' }), false],
    ['READ', ev('READ', { Uuid: 'u' }), false],
  ])('%s -> %s', (_name, e, expected) => {
    expect(isCoalesced(e)).toBe(expected);
  });
});

describe('mergeNodeEvents', () => {
  it.each<[string, string, string, string]>([
    ['CREATE then UPDATE_META', 'CREATE', 'UPDATE_META', 'CREATE'],
    ['UPDATE_META then CREATE', 'UPDATE_META', 'CREATE', 'CREATE'],
    ['UPDATE_CONTENT then CREATE', 'UPDATE_CONTENT', 'CREATE', 'CREATE'],
    ['UPDATE_META then UPDATE_CONTENT', 'UPDATE_META', 'UPDATE_CONTENT', 'UPDATE_CONTENT'],
    ['UPDATE_CONTENT then UPDATE_META', 'UPDATE_CONTENT', 'UPDATE_META', 'UPDATE_CONTENT'],
    ['UPDATE_META then UPDATE_META', 'UPDATE_META', 'UPDATE_META', 'UPDATE_META'],
  ])('Type: %s -> %s', (_name, a, b, expected) => {
    expect(mergeNodeEvents(ev(a, { Uuid: 'u' }), ev(b, { Uuid: 'u' })).Type).toBe(expected);
  });

  it.each<[string, TreeNode, TreeNode, TreeNode]>([
    ['Path kept when set', { Uuid: 'u', Path: 'a' }, { Uuid: 'u', Path: 'b' }, { Uuid: 'u', Path: 'a' }],
    ['Path taken when empty', { Uuid: 'u', Path: '' }, { Uuid: 'u', Path: 'b' }, { Uuid: 'u', Path: 'b' }],
    ['Path taken when missing', { Uuid: 'u' }, { Uuid: 'u', Path: 'b' }, { Uuid: 'u', Path: 'b' }],
    ['real Etag replaces a real one', { Uuid: 'u', Etag: 'e1' }, { Uuid: 'u', Etag: 'e2' }, { Uuid: 'u', Etag: 'e2' }],
    ['temporary never replaces a real Etag', { Uuid: 'u', Etag: 'e1' }, { Uuid: 'u', Etag: 'temporary' }, { Uuid: 'u', Etag: 'e1' }],
    ['real Etag replaces temporary', { Uuid: 'u', Etag: 'temporary' }, { Uuid: 'u', Etag: 'e2' }, { Uuid: 'u', Etag: 'e2' }],
    ['temporary taken when there is none', { Uuid: 'u' }, { Uuid: 'u', Etag: 'temporary' }, { Uuid: 'u', Etag: 'temporary' }],
    ['empty Etag ignored', { Uuid: 'u', Etag: 'e1' }, { Uuid: 'u', Etag: '' }, { Uuid: 'u', Etag: 'e1' }],
    [
      'Type, MTime and Size from the later event',
      { Uuid: 'u', Type: 'LEAF', MTime: '1', Size: '1' },
      { Uuid: 'u', Type: 'COLLECTION', MTime: '2', Size: '2' },
      { Uuid: 'u', Type: 'COLLECTION', MTime: '2', Size: '2' },
    ],
    ['absent MTime and Size keep the earlier ones', { Uuid: 'u', MTime: '1', Size: '1' }, { Uuid: 'u' }, { Uuid: 'u', MTime: '1', Size: '1' }],
    [
      'MetaStore maps merged, later wins',
      { Uuid: 'u', MetaStore: { a: '1', b: '1' } },
      { Uuid: 'u', MetaStore: { b: '2', c: '2' } },
      { Uuid: 'u', MetaStore: { a: '1', b: '2', c: '2' } },
    ],
    ['MetaStore only in the later event', { Uuid: 'u' }, { Uuid: 'u', MetaStore: { c: '2' } }, { Uuid: 'u', MetaStore: { c: '2' } }],
    ['other keys from the first event kept', { Uuid: 'u', Extra: 1 }, { Uuid: 'u', Extra: 2 }, { Uuid: 'u', Extra: 1 }],
  ])('Target: %s', (_name, a, b, expected) => {
    expect(mergeNodeEvents(ev('UPDATE_META', a), ev('UPDATE_META', b)).Target).toEqual(expected);
  });

  it.each<[string, Partial<NodeChangeEvent>, Partial<NodeChangeEvent>, boolean | undefined]>([
    ['both silent', { Silent: true }, { Silent: true }, true],
    ['one not silent', { Silent: true }, {}, undefined],
    ['none silent', {}, { Silent: false }, undefined],
  ])('Silent: %s', (_name, a, b, expected) => {
    expect(mergeNodeEvents(ev('UPDATE_META', { Uuid: 'u' }, a), ev('UPDATE_META', { Uuid: 'u' }, b)).Silent).toBe(expected);
  });

  it('is associative over a sequence (temporary etag in the middle)', () => {
    const seq = [
      ev('CREATE', { Uuid: 'u', Path: 'a', Etag: 'temporary', Size: '0' }),
      ev('UPDATE_CONTENT', { Uuid: 'u', Etag: 'real', Size: '10' }),
      ev('UPDATE_META', { Uuid: 'u', Etag: 'temporary', MetaStore: { k: '"v"' } }),
    ];
    expect(seq.reduce((acc, e) => mergeNodeEvents(acc, e))).toEqual(
      ev('CREATE', { Uuid: 'u', Path: 'a', Etag: 'real', Size: '10', MetaStore: { k: '"v"' } }),
    );
  });

  it('does not mutate its inputs', () => {
    const a = ev('CREATE', { Uuid: 'u', MetaStore: { a: '1' } });
    const b = ev('UPDATE_META', { Uuid: 'u', Path: 'p', MetaStore: { b: '2' } });
    const [ca, cb] = [structuredClone(a), structuredClone(b)];
    const merged = mergeNodeEvents(a, b);
    expect([a, b]).toEqual([ca, cb]);
    expect(merged.Target).not.toBe(a.Target);
    expect(merged.Target?.MetaStore).not.toBe(a.Target?.MetaStore);
  });
});

describe('Coalescer with the node topics\' rules', () => {
  let flushed: NodeChangeEvent[];
  let merged: number;
  const make = (opts: Partial<{ windowMs: number; maxWaitMs: number; maxPending: number }> = {}) => {
    const { meta: handler } = nodeTopics(opts.windowMs, opts.maxWaitMs);
    const c = new Coalescer({
      maxPending: opts.maxPending ?? 100,
      flush: (m) => flushed.push(m.event as NodeChangeEvent),
      onMerged: () => merged++,
    });
    return { add: (e: NodeChangeEvent) => accept(c, handler, e, (_h, x) => flushed.push(x)), flushAll: () => c.flushAll(), get size() { return c.size; } };
  };
  const meta = (uuid: string, k: string) => ev('UPDATE_META', { Uuid: uuid, MetaStore: { [k]: '1' } });

  beforeEach(() => {
    jest.useFakeTimers();
    flushed = [];
    merged = 0;
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('flushes one merged event windowMs after the last event (sliding window)', () => {
    const c = make();
    c.add(meta('u', 'a'));
    jest.advanceTimersByTime(800);
    c.add(meta('u', 'b'));
    jest.advanceTimersByTime(800); // 1600 ms since the first, 800 since the last
    expect(flushed).toHaveLength(0);
    expect(c.size).toBe(1);
    jest.advanceTimersByTime(199);
    expect(flushed).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(flushed).toEqual([ev('UPDATE_META', { Uuid: 'u', MetaStore: { a: '1', b: '1' } })]);
    expect(merged).toBe(1);
    expect(c.size).toBe(0);
  });

  it('a single event is flushed after windowMs', () => {
    const c = make();
    c.add(meta('u', 'a'));
    jest.advanceTimersByTime(999);
    expect(flushed).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(flushed).toHaveLength(1);
    expect(merged).toBe(0);
  });

  it('never waits more than maxWaitMs after the first event', () => {
    const c = make();
    for (let t = 0; t < 2900; t += 500) {
      c.add(meta('u', `k${t}`));
      jest.advanceTimersByTime(500);
    }
    // Events at 0..2500; the window alone would flush at 3500.
    expect(flushed).toHaveLength(1);
    expect(Object.keys(flushed[0].Target?.MetaStore ?? {})).toHaveLength(6);
    expect(merged).toBe(5);
  });

  it('flushes exactly at maxWaitMs when events keep coming', () => {
    const c = make();
    c.add(meta('u', 'a'));
    for (const k of ['b', 'c', 'd']) {
      jest.advanceTimersByTime(900);
      c.add(meta('u', k)); // at 900, 1800, 2700 ms
    }
    // The window alone would flush at 3700; max wait says 3000.
    jest.advanceTimersByTime(299);
    expect(flushed).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(flushed).toHaveLength(1);
    expect(merged).toBe(3);
  });

  it('an event after a flush starts a new batch', () => {
    const c = make();
    c.add(meta('u', 'a'));
    jest.advanceTimersByTime(1000);
    c.add(meta('u', 'b'));
    jest.advanceTimersByTime(1000);
    expect(flushed.map((e) => e.Target?.MetaStore)).toEqual([{ a: '1' }, { b: '1' }]);
    expect(merged).toBe(0);
  });

  it('keeps separate batches per Target.Uuid', () => {
    const c = make();
    c.add(meta('u1', 'a'));
    c.add(meta('u2', 'b'));
    c.add(meta('u1', 'c'));
    expect(c.size).toBe(2);
    jest.advanceTimersByTime(1000);
    expect(flushed).toHaveLength(2);
    expect(flushed).toEqual(
      expect.arrayContaining([
        ev('UPDATE_META', { Uuid: 'u1', MetaStore: { a: '1', c: '1' } }),
        ev('UPDATE_META', { Uuid: 'u2', MetaStore: { b: '1' } }),
      ]),
    );
  });

  it('evicts the oldest pending uuid when maxPending is reached', () => {
    const c = make({ maxPending: 2 });
    c.add(meta('u1', 'a'));
    c.add(meta('u2', 'b'));
    c.add(meta('u1', 'c')); // merge: no new uuid, no eviction
    expect(flushed).toHaveLength(0);
    c.add(meta('u3', 'd'));
    expect(flushed).toEqual([ev('UPDATE_META', { Uuid: 'u1', MetaStore: { a: '1', c: '1' } })]);
    expect(c.size).toBe(2);
    jest.advanceTimersByTime(1000);
    expect(flushed.map((e) => e.Target?.Uuid)).toEqual(['u1', 'u2', 'u3']);
    expect(c.size).toBe(0);
  });

  it('an evicted batch is not flushed a second time by its timer', () => {
    const c = make({ maxPending: 1 });
    c.add(meta('u1', 'a'));
    c.add(meta('u2', 'b'));
    jest.advanceTimersByTime(5000);
    expect(flushed.map((e) => e.Target?.Uuid)).toEqual(['u1', 'u2']);
  });

  it('flushAll flushes everything now and cancels the timers', () => {
    const c = make();
    c.add(meta('u1', 'a'));
    c.add(meta('u2', 'b'));
    c.flushAll();
    expect(flushed.map((e) => e.Target?.Uuid)).toEqual(['u1', 'u2']);
    expect(c.size).toBe(0);
    jest.advanceTimersByTime(5000);
    expect(flushed).toHaveLength(2);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('passes events that are not coalesced straight through', () => {
    const c = make();
    const del = ev('DELETE', undefined, { Source: { Uuid: 'u', Path: 'a' } });
    c.add(del);
    expect(flushed).toEqual([del]);
    expect(c.size).toBe(0);
  });

  it('does not mutate the events it is given', () => {
    const c = make();
    const a = meta('u', 'a');
    const copy = structuredClone(a);
    c.add(a);
    c.add(meta('u', 'b'));
    c.flushAll();
    expect(a).toEqual(copy);
  });

  describe('one coalescer for both node topics: a node keeps its publish order', () => {
    let out: Array<[string, string, string | undefined]>;
    const handlers = nodeTopics();
    const record = (h: TopicHandler, e: NodeChangeEvent) => out.push([h.topic, e.Type, e.Target?.Uuid ?? e.Source?.Uuid]);
    const shared = () => {
      out = [];
      const c = new Coalescer({ maxPending: 100, flush: (m) => record(m.handler, m.event as NodeChangeEvent) });
      return { add: (e: NodeChangeEvent, topic: string) => accept(c, handlers[topic], e, record), flushAll: () => c.flushAll() };
    };
    const del = (uuid: string) => ev('DELETE', undefined, { Source: { Uuid: uuid, Path: 'a' } });
    const move = (uuid: string) => ev('UPDATE_PATH', { Uuid: uuid, Path: 'b' }, { Source: { Uuid: uuid, Path: 'a' } });
    const userMeta = (uuid: string) => ev('UPDATE_USER_META', { Uuid: uuid, Path: 'a' });

    type Out = Array<[string, string, string]>;
    // Rows: input (topic, event), what is handed over at once, then what flushAll adds.
    it.each<[string, Array<[string, NodeChangeEvent]>, Out, Out]>([
      ['tree CREATE, meta UPDATE_META, tree UPDATE_CONTENT: one CREATE counted under tree', [['tree', ev('CREATE', { Uuid: 'n' })], ['meta', meta('n', 'tags')], ['tree', ev('UPDATE_CONTENT', { Uuid: 'n' })]], [], [['tree', 'CREATE', 'n']]],
      ['meta UPDATE_META first: the batch counts under meta', [['meta', meta('n', 'tags')], ['tree', ev('CREATE', { Uuid: 'n' })]], [], [['meta', 'CREATE', 'n']]],
      ['meta UPDATE_META then tree DELETE: the batch goes first', [['meta', meta('n', 'a')], ['tree', del('n')]], [['meta', 'UPDATE_META', 'n'], ['tree', 'DELETE', 'n']], []],
      ['tree CREATE then tree UPDATE_PATH: the batch goes first', [['tree', ev('CREATE', { Uuid: 'n' })], ['tree', move('n')]], [['tree', 'CREATE', 'n'], ['tree', 'UPDATE_PATH', 'n']], []],
      ['tree CREATE then meta UPDATE_USER_META: the batch goes first', [['tree', ev('CREATE', { Uuid: 'n' })], ['meta', userMeta('n')]], [['tree', 'CREATE', 'n'], ['meta', 'UPDATE_USER_META', 'n']], []],
      ["another node's DELETE leaves the batch pending", [['tree', ev('CREATE', { Uuid: 'n' })], ['tree', del('m')]], [['tree', 'DELETE', 'm']], [['tree', 'CREATE', 'n']]],
    ])('%s', (_name, input, atOnce, later) => {
      const c = shared();
      for (const [topic, e] of input) c.add(e, topic);
      expect(out).toEqual(atOnce);
      c.flushAll();
      expect(out).toEqual([...atOnce, ...later]);
    });
  });
});
