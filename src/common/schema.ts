/** Small validation helpers for payloads that come from the bus or from clients. */

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
