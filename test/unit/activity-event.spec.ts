import { describe, it, expect } from '@jest/globals';
import { SchemaError } from '../../src/common/schema.js';
import { activityAudience, parseActivityEvent } from '../../src/topics/activity.topic.js';

const activity = (extra: Record<string, unknown> = {}) => ({
  OwnerType: 'USER',
  OwnerId: 'alice',
  BoxName: 'inbox',
  Activity: { type: 'Update', actor: { id: 'bob', name: 'Bob' }, object: { type: 'Document', name: 'pydiods1/projects/a.txt' } },
  ...extra,
});

describe('parseActivityEvent', () => {
  it('accepts an activity event', () => {
    expect(parseActivityEvent(activity())).toEqual(activity());
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', [], /event must be an object/],
    ['no Activity', { OwnerId: 'alice' }, /event.Activity must be an object/],
    ['OwnerId not a string', activity({ OwnerId: 1 }), /event.OwnerId must be a string/],
    ['BoxName not a string', activity({ BoxName: true }), /event.BoxName must be a string/],
    ['actor not an object', activity({ Activity: { actor: 'bob' } }), /event.Activity.actor must be an object/],
    ['actor.id not a string', activity({ Activity: { actor: { id: 5 } } }), /actor.id must be a string/],
    ['object.name not a string', activity({ Activity: { object: { name: ['a'] } } }), /object.name must be a string/],
  ])('rejects %s', (_name, raw, reason) => {
    expect(() => parseActivityEvent(raw)).toThrow(SchemaError);
    expect(() => parseActivityEvent(raw)).toThrow(reason);
  });
});

describe('activityAudience: keys', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['inbox of a user', {}, ['user:alice']],
    ['inbox with a non-USER owner type', { OwnerType: 'NODE' }, ['user:alice']],
    ['outbox of a USER owner', { BoxName: 'outbox' }, ['user:alice']],
    ['outbox of a NODE owner: skipped', { OwnerType: 'NODE', BoxName: 'outbox' }, []],
    ['no box, no owner type: skipped', { OwnerType: undefined, BoxName: undefined }, []],
    ['self-action: skipped', { Activity: { actor: { id: 'alice' }, object: { name: 'a' } } }, []],
    ['no actor: delivered', { Activity: { object: { name: 'a' } } }, ['user:alice']],
    ['no OwnerId: nobody', { OwnerId: undefined }, []],
  ])('%s', (_name, extra, keys) => {
    expect(activityAudience(parseActivityEvent(activity(extra))).keys).toEqual(keys);
  });
});

describe('activityAudience: frame', () => {
  it.each<[string, string, string]>([
    ['path', 'pydiods1/projects/a.txt', 'a.txt'],
    ['trailing slash', 'pydiods1/projects/folder/', 'folder'],
    ['several trailing slashes', 'a/b//', 'b'],
    ['already a basename', 'a.txt', 'a.txt'],
    ['leading slash', '/a.txt', 'a.txt'],
  ])('object name reduced to its basename: %s', (_name, name, expected) => {
    const e = parseActivityEvent(activity({ Activity: { actor: { id: 'bob' }, object: { name } } }));
    expect(activityAudience(e).frame).toMatchObject({ Activity: { object: { name: expected } } });
  });

  it('adds @type, reduces object, origin and target names, leaves absent ones absent, keeps the rest', () => {
    const raw = activity({
      Activity: {
        type: 'Move',
        actor: { id: 'bob', name: 'Bob' },
        object: { type: 'Document', name: 'ws/dir/a.txt' },
        origin: { name: 'ws/dir/' },
        target: { name: 'ws/other' },
      },
    });
    const copy = structuredClone(raw);
    const { frame } = activityAudience(parseActivityEvent(raw));
    expect(frame).toEqual({
      '@type': 'activity',
      OwnerType: 'USER',
      OwnerId: 'alice',
      BoxName: 'inbox',
      Activity: {
        type: 'Move',
        actor: { id: 'bob', name: 'Bob' },
        object: { type: 'Document', name: 'a.txt' },
        origin: { name: 'dir' },
        target: { name: 'other' },
      },
    });
    expect(raw).toEqual(copy);
  });

  it('does not add origin or target when absent, and does not mutate the input', () => {
    const raw = activity();
    const copy = structuredClone(raw);
    const { frame } = activityAudience(parseActivityEvent(raw));
    const act = frame.Activity as Record<string, unknown>;
    expect(Object.keys(act).sort()).toEqual(['actor', 'object', 'type']);
    expect(act.object).toEqual({ type: 'Document', name: 'a.txt' });
    expect(raw).toEqual(copy);
  });

  it('the frame is built even for a skipped event, with @type forced', () => {
    const { keys, frame } = activityAudience(parseActivityEvent(activity({ '@type': 'x', OwnerType: 'NODE', BoxName: 'outbox' })));
    expect(keys).toEqual([]);
    expect(frame['@type']).toBe('activity');
  });
});
