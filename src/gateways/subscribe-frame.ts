import type { Json } from '../common/schema.js';
import { SubscribeFrame } from '../protocol/frames.js';

/**
 * The subscribe frame's token. `resumeFrom` is read by the resume itself (anything that is not
 * an offset answers `recovered:false`, PROTOCOL 6) and `heartbeat` is on only when true: neither
 * refuses a subscribe. A token that is not a string goes to the verifier as none, which refuses
 * it with the text Cells clients know (`empty jwt`).
 */
const SubscribeToken = SubscribeFrame.pick({ jwt: true });

/** Reads a subscribe frame: the token (undefined when it is not one), the resume offset as sent, the heartbeat opt-in. */
export function readSubscribe(msg: Json): { jwt?: string; resumeFrom: unknown; heartbeat: boolean } {
  return { jwt: SubscribeToken.safeParse(msg).data?.jwt, resumeFrom: msg.resumeFrom, heartbeat: msg.heartbeat === true };
}

