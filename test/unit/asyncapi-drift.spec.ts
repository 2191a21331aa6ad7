/**
 * The drift check between src/protocol and docs/asyncapi.yaml (scripts/lib/asyncapi-drift.mjs):
 * each one-line drift it exists for is reported.
 */
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import * as events from '../../src/protocol/events.js';
import * as frames from '../../src/protocol/frames.js';
// @ts-expect-error: a plain ESM script, no types
import { checkProtocolDrift, componentSchemas } from '../../scripts/lib/asyncapi-drift.mjs';

type Components = Record<string, Record<string, unknown>>;
const check = (modules: object, components: Components): { problems: string[]; compared: number } => checkProtocolDrift(modules, components);
const docSchemas = componentSchemas(fileURLToPath(new URL('../../docs/asyncapi.yaml', import.meta.url))) as Components;

describe('asyncapi drift', () => {
  it('docs/asyncapi.yaml matches src/protocol today', () => {
    const { problems, compared } = check({ events, frames }, docSchemas);
    expect(problems).toEqual([]);
    expect(compared).toBeGreaterThan(30);
  });

  const Task = z.looseObject({ TaskUpdated: z.looseObject({ TriggerOwner: z.string().nullish() }), Job: z.looseObject({}).nullish() });
  const doc: Components = {
    TaskChangeEvent: {
      type: 'object',
      required: ['TaskUpdated'],
      properties: { TaskUpdated: { type: 'object', properties: { TriggerOwner: { type: 'string' }, ID: { type: 'string' } } }, Job: { type: 'object' } },
    },
  };
  it.each<[string, z.ZodType, Components, RegExp | undefined]>([
    ['the same (the document may say more)', Task, doc, undefined],
    ['a field added to the schema only', Task.extend({ Extra: z.string().optional() }), doc, /TaskChangeEvent\)\.Extra: in src\/protocol, not in the document/],
    [
      'a nested field added to the schema only',
      Task.extend({ TaskUpdated: z.looseObject({ TriggerOwner: z.string().nullish(), Owner: z.string() }) }),
      doc,
      /TaskUpdated\.Owner: in src\/protocol, not in the document/,
    ],
    ['a type the schema accepts, undocumented', Task.extend({ Job: z.union([z.looseObject({}), z.string()]).nullish() }), doc, /Job: type string allowed by src\/protocol/],
    ['a field made required in the schema only', Task.extend({ Job: z.looseObject({}) }), doc, /Job: required by src\/protocol, not in the document/],
    ['a field made optional in the schema only', Task.extend({ TaskUpdated: Task.shape.TaskUpdated.optional() }), doc, /TaskUpdated: required in the document, optional in src\/protocol/],
  ])('%s', (_name, schema, components, problem) => {
    const { problems } = check({ events: { TaskChangeEvent: schema } }, components);
    if (problem) expect(problems.join('\n')).toMatch(problem);
    else expect(problems).toEqual([]);
  });

  it('an enum value on one side only', () => {
    const components: Components = { ErrorCode: { type: 'string', enum: ['bad_frame', 'internal'] } };
    const { problems } = check({ frames: { ErrorCode: z.enum(['bad_frame', 'internal', 'new_code']) } }, components);
    expect(problems.join('\n')).toMatch(/value\(s\) "new_code" in src\/protocol, not in the document/);
  });

  it('a new schema with no component', () => {
    const { problems } = check({ events: { BrandNewEvent: z.object({ a: z.string() }) } }, docSchemas);
    expect(problems.join('\n')).toMatch(/events\.BrandNewEvent: a schema with no component/);
  });
});
