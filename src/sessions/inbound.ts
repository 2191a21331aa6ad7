import { Logger } from '@nestjs/common';
import type { RawData } from 'ws';
import { jsonTooDeep } from '../common/json-bounds.js';
import { isRecord, type Json } from '../common/schema.js';
import { takeToken } from '../common/token-bucket.js';
import { errorFrame } from '../protocol/frames.js';
import type { Session } from './session.js';

export interface InboundLimits {
  clientFrameRate: number;
  clientFrameBurst: number;
  maxJsonDepth: number;
}

/**
 * A session's frames in: the inbound rate limit, JSON within the depth bound, and the order.
 * Frames are handled one at a time: while one is still at work (a subscribe verifying its
 * token, a chat store call), the later ones wait behind it, so that a client may send
 * `subscribe` and `join` back to back as Cells clients do. A session the service is closing
 * is not listened to any more.
 */
export class InboundFrames {
  constructor(
    private readonly limits: InboundLimits,
    private readonly log: Logger,
    /** Too many frames: the host closes 4429. */
    private readonly flooded: (session: Session) => void,
    /** Not JSON before a subscribe: the host refuses (4401). */
    private readonly garbled: (session: Session) => void,
  ) {}

  received(session: Session, raw: RawData): void {
    if (session.closing) return;
    const { clientFrameRate, clientFrameBurst, maxJsonDepth } = this.limits;
    const full = takeToken(session.inboundFull, Date.now(), clientFrameRate, clientFrameBurst);
    if (full === undefined) return this.flooded(session);
    session.inboundFull = full;
    let msg: unknown;
    try {
      const text = raw.toString();
      // Nothing a client sends needs depth; a deep value would only get in the way later.
      msg = jsonTooDeep(text, maxJsonDepth) ? undefined : JSON.parse(text);
    } catch {
      msg = undefined;
    }
    if (!isRecord(msg)) {
      // Before a subscribe, nothing but a subscribe is expected: treat it as a failed one.
      if (!session.identity) return this.garbled(session);
      return session.reply(errorFrame('bad_frame', 'frame is not a JSON object'));
    }
    this.enqueue(session, msg);
  }

  private enqueue(session: Session, msg: Json): void {
    const run = () => this.handle(session, msg);
    const result = session.busy ? session.busy.then(run) : run();
    if (!result) return;
    const busy: Promise<void> = result.then(() => {
      if (session.busy === busy) session.busy = undefined;
    });
    session.busy = busy;
  }

  /** Never throws, and its promise never rejects; a frame that comes while the session closes is dropped. */
  private handle(session: Session, msg: Json): void | Promise<void> {
    if (session.closing) return;
    const failed = (err: unknown) => {
      this.log.error(`frame handler failed for session ${session.id}: ${(err as Error)?.stack}`);
      session.reply(errorFrame('internal'));
    };
    try {
      return session.frame(session, msg)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}
