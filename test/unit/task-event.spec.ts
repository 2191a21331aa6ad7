import { describe, it, expect } from '@jest/globals';
import { SchemaError } from '../../src/common/schema.js';
import { parseTaskEvent, taskAudience } from '../../src/topics/task.topic.js';

describe('parseTaskEvent', () => {
  it('accepts a task event and keeps it as published', () => {
    const raw = { TaskUpdated: { ID: 't1', TriggerOwner: 'alice', Status: 'Running', Progress: 0.4 }, Job: { ID: 'j1' }, Extra: 1 };
    expect(parseTaskEvent(raw)).toEqual(raw);
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 'x', /event must be an object/],
    ['null', null, /event must be an object/],
    ['no TaskUpdated', { Job: {} }, /TaskUpdated must be an object/],
    ['TaskUpdated an array', { TaskUpdated: [] }, /TaskUpdated must be an object/],
    ['TriggerOwner not a string', { TaskUpdated: { TriggerOwner: 7 } }, /TriggerOwner must be a string/],
    ['Job not an object', { TaskUpdated: {}, Job: 'j' }, /Job must be an object/],
  ])('rejects %s', (_name, raw, reason) => {
    expect(() => parseTaskEvent(raw)).toThrow(SchemaError);
    expect(() => parseTaskEvent(raw)).toThrow(reason);
  });
});

describe('taskAudience', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['owner only', { TriggerOwner: 'alice' }, ['user:alice']],
    ['system-owned task also goes to admins', { TriggerOwner: 'pydio.system.user' }, ['user:pydio.system.user', 'profile:admin']],
    ['no owner: nobody', { Status: 'Running' }, []],
    ['empty owner: nobody', { TriggerOwner: '' }, []],
  ])('%s', (_name, task, keys) => {
    const e = parseTaskEvent({ TaskUpdated: task, Job: { ID: 'j' } });
    const audience = taskAudience(e);
    expect(audience.keys).toEqual(keys);
    expect(audience.frame).toEqual({ TaskUpdated: task, Job: { ID: 'j' } });
  });
});
