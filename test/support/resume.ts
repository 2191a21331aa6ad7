/** Helpers for the resume tests (PROTOCOL 6). */
import { Client, type Frame } from './harness.js';

export const OFFSET_PATTERN = /^\d+-\d+@[0-9a-f]+$/;

/** Connects and subscribes with `resumeFrom`; resolves once `resumed` has arrived. */
export async function resumed(url: string, jwt: string, resumeFrom: unknown, timeoutMs = 5000): Promise<{ client: Client; resumed: Frame }> {
  const client = await Client.connect(url);
  client.send({ '@type': 'subscribe', jwt, resumeFrom });
  const frame = await client.next((f) => f['@type'] === 'resumed', timeoutMs);
  return { client, resumed: frame };
}

/** The frames between the `subscribed` ack and the `resumed` frame: the replay. */
export function replayOf(client: Client): Frame[] {
  const start = client.frames.findIndex((f) => f['@type'] === 'subscribed');
  const end = client.frames.findIndex((f) => f['@type'] === 'resumed');
  return client.frames.slice(start + 1, end);
}

/** A task frame's id (tasks are keyed events: one frame per event, never coalesced). */
export const taskId = (f: Frame): string | undefined => (f.TaskUpdated as { ID?: string } | undefined)?.ID;

export const task = (id: string, owner = 'alice') => ({ TaskUpdated: { ID: id, TriggerOwner: owner } });
