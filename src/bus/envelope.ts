import type { Deserializer, IncomingEvent } from '@nestjs/microservices';
import { isRecord } from '../common/schema.js';

/**
 * A payload is a NestJS envelope only when it says so for this very channel
 * (`{"pattern":"<this channel>","data":...}`); anything else is the bare event as sent by
 * `redis-cli PUBLISH`. Nest's default deserializer takes any object with a top-level `data`
 * or `pattern` key for an envelope, which would mangle such bare events. Every payload is
 * an event (no `id`): the bus never answers.
 */
export class EnvelopeDeserializer implements Deserializer<unknown, IncomingEvent> {
  deserialize(value: unknown, options?: { channel?: string }): IncomingEvent {
    const channel = options?.channel ?? '';
    if (isRecord(value) && value.pattern === channel && 'data' in value) return { pattern: channel, data: value.data };
    return { pattern: channel, data: value };
  }
}

const envelope = new EnvelopeDeserializer();

/** The event of a raw payload: Nest's parsing (JSON, else the text as is), then the envelope rule. */
export function decodePayload(channel: string, raw: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  return envelope.deserialize(value, { channel }).data;
}

/** A payload as a NestJS client publishes it (`emit`): an envelope naming the channel. */
export function encodePayload(channel: string, data: unknown): string {
  return JSON.stringify({ pattern: channel, data });
}
