import { Inject, Injectable, Logger } from '@nestjs/common';
import { Bus } from '../bus/bus.js';
import { payloadProblem } from '../common/json-bounds.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../ops/metrics.js';
import type { Session } from '../sessions/session.js';
import { SessionRegistry } from '../sessions/session-registry.js';
import type { ReplayFrame } from '../bus/topic.js';
import { TopicDispatcher } from '../bus/topic-dispatcher.js';
import { compareIds, formatOffset, unrecoverable, type StreamId } from './offset.js';

/** History entries read per request during a replay. */
const PAGE = 100;
/** A replay reads at most this many times HISTORY_REPLAY_MAX_BYTES of history. */
const READ_FACTOR = 16;

type Prepared = { frames: ReplayFrame[]; upTo: StreamId } | { reason: string };

/**
 * `subscribe` with `resumeFrom` on `/ws` (PROTOCOL 6). The session is already indexed for
 * its new identity and its live frames are held. The replay covers the history after the
 * offset up to the last entry this instance has delivered live (the head): every later
 * event reaches the session live, so nothing falls between the two; held live frames the
 * replay covered are dropped (Outbox.release), as are later live copies (Session.replayed).
 */
@Injectable()
export class ResumeService {
  private readonly log = new Logger(ResumeService.name);

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly bus: Bus,
    private readonly dispatcher: TopicDispatcher,
    private readonly metrics: Metrics,
  ) {}

  async resume(session: Session, resumeFrom: unknown): Promise<void> {
    let prepared: Prepared;
    try {
      prepared = await this.prepare(session, resumeFrom);
    } catch (err) {
      this.log.warn({ msg: 'resume failed', sessionId: session.id, err: (err as Error)?.message });
      prepared = { reason: 'error' };
    }
    if ('reason' in prepared) {
      this.metrics.resumes.inc({ result: prepared.reason });
      session.reply({ '@type': 'resumed', recovered: false });
      return session.outbox.release();
    }
    const { frames, upTo } = prepared;
    this.metrics.resumes.inc({ result: 'recovered' });
    this.metrics.replayedFrames.inc(frames.length);
    session.replayedUpTo = upTo;
    const out = frames.map((f) => ({ data: Buffer.from(f.data), topic: f.topic }));
    out.push({ data: Buffer.from(JSON.stringify({ '@type': 'resumed', recovered: true, replayed: frames.length })), topic: 'resume' });
    session.outbox.release(out, upTo);
  }

  /** The frames of the replay, through the live rules for this one session; or why there is none. */
  private async prepare(session: Session, resumeFrom: unknown): Promise<Prepared> {
    const { history } = this.bus;
    const bounds = await history.bounds();
    if (!bounds) return { reason: 'unavailable' };
    const check = unrecoverable(resumeFrom, bounds);
    if ('reason' in check) return check;
    const upTo = bounds.head;
    const { replayMaxEvents, replayMaxBytes } = this.config.history;

    // The session alone, under its current identity and rooms.
    const registry = new SessionRegistry();
    registry.add(session);
    await registry.setIdentity(session, session.identity);
    for (const room of session.rooms) registry.joinRoom(session, room);

    const frames: ReplayFrame[] = [];
    const bound = { maxBytes: this.config.limits.maxEventBytes, maxDepth: this.config.limits.maxJsonDepth };
    let [count, bytes, read] = [0, 0, 0];
    // Page by page: what is held at once stays small, whatever the history holds.
    for (let after = check.offset.id; compareIds(after, upTo) < 0; ) {
      const page = await history.range(after, upTo, PAGE);
      if (!page.length) break;
      for (const entry of page) {
        if (++count > replayMaxEvents) return { reason: 'too_many' };
        // Entries the session cannot see cost reading too: bounded as well.
        if ((read += entry.raw.length) > READ_FACTOR * replayMaxBytes) return { reason: 'too_large' };
        if (payloadProblem(entry.raw, bound)) continue;
        const before = frames.length;
        const offset = { id: entry.id, text: formatOffset(entry.id, bounds.epoch) };
        await this.dispatcher.replay(entry.channel, this.bus.decode(entry), { offset, replay: { registry, session, frames } });
        for (let i = before; i < frames.length; i++) bytes += Buffer.byteLength(frames[i].data);
        if (bytes > replayMaxBytes) return { reason: 'too_large' };
      }
      after = page[page.length - 1].id;
    }
    return { frames, upTo };
  }
}
