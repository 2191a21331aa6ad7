/** Validation helpers for payloads that come from the bus or from clients; the schemas are in src/protocol. */
import type * as z from 'zod';

/** Thrown when a payload does not fit its schema; `message` is safe to log (no payload contents). */
export class SchemaError extends Error {}

export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireRecord(value: unknown, what: string): Json {
  if (!isRecord(value)) throw new SchemaError(`${what} must be an object`);
  return value;
}

/** An optional string field; numbers are accepted and turned into strings (64-bit ints travel as strings). */
export function optString(obj: Json, key: string, what: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new SchemaError(`${what}.${key} must be a string`);
}

/** How a field is named in an error text: `event.Target.Path` by default. */
export type FieldLabel = (path: readonly PropertyKey[]) => string;

const EXPECTED: Record<string, string> = { object: 'an object', record: 'an object', array: 'an array', boolean: 'a boolean', string: 'a string', number: 'a number', int: 'an integer' };

/**
 * The text of an issue: the schema's own (every text of src/protocol has `{}` for the field),
 * else worded from the issue (zod's default text would quote the received type). Never quotes the payload.
 */
function issueText(issue: z.core.$ZodIssue): string {
  if (issue.message.includes('{}')) return issue.message;
  if (issue.code === 'invalid_type') return `{} must be ${EXPECTED[issue.expected] ?? issue.expected}`;
  return '{} is invalid';
}

/**
 * Parses `raw` with a src/protocol schema; the first issue becomes a SchemaError whose text
 * names the field (`event.TaskUpdated.TriggerOwner must be a string`). `root` names the
 * payload (`event`) or, as a function, words the whole field name.
 */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, root: string | FieldLabel): z.output<S> {
  // No per-call error map: passing one makes zod leave its compiled fast path (4x slower).
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const label = typeof root === 'function' ? root(issue.path) : [root, ...issue.path.map(String)].join('.');
  throw new SchemaError(issueText(issue).replace('{}', label));
}

/** parseWith, for schemas that only validate: returns `raw` itself (delivered as published), not zod's copy. */
export function checkWith<T>(schema: z.ZodType<unknown, T>, raw: T | unknown, root: string | FieldLabel): T {
  parseWith(schema, raw, root);
  return raw as T;
}
