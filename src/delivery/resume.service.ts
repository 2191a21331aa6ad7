import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config.js';
import { HISTORY, type History } from '../history/history.js';
import { compareIds, unrecoverable, type HistoryBounds, type StreamId } from '../history/offset.js';
import { MemoryBudget, type MemoryReservation } from '../memory/memory-budget.js';
import { Metrics } from '../metrics/metrics.js';
import type { NotRecovered } from '../protocol/frames.js';
import { textFrame } from '../sessions/outbox.js';
import type { Session } from '../sessions/session.js';
import { SessionView } from './audience.js';
import { DeliveryService } from './delivery.service.js';
import { ReplaySlots } from './replay-slots.js';

/** History entries read per step of a replay. */
const PAGE = 200;

type Prepared = { frames: Buffer[]; upTo: StreamId; held: MemoryReservation } | { reason: NotRecovered };

/** What a frame of a replay costs the session beside the frame itself (a reference in its queue). */
const FRAME_OVERHEAD = 16;

/**
 * `subscribe` with `resumeFrom` on `/ws` (PROTOCOL 6). The session is already indexed for
 * its new identity and its live frames are held. The replay covers the history after the
 * offset up to the last entry this instance has delivered live (the head): every later
 * event reaches the session live, so nothing falls between the two; held live frames the
 * replay covered are dropped (Outbox.release), as are later live copies (Session.replayed).
 * The entries go through the delivery service's one path, against the session as it is now.
 */
@Injectable()
export class ResumeService {
  private readonly log = new Logger(ResumeService.name);
  private readonly slots: ReplaySlots;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(HISTORY) private readonly history: History,
    private readonly delivery: DeliveryService,
    private readonly metrics: Metrics,
    private readonly budget: MemoryBudget,
  ) {
    this.slots = new ReplaySlots(config.history.replayConcurrency, config.history.replayQueueMax);
  }

  /** Where live delivery stands: a new session can resume from here before its first event. */
  position(): string | undefined {
    return this.history.position();
  }

  /** Answers `resumed` and releases the session's held frames, whatever happens. Never rejects. */
  async resume(session: Session, resumeFrom: unknown): Promise<void> {
    const deadline = Date.now() + this.config.history.replayTimeoutMs;
    let prepared: Prepared;
    try {
      prepared = await this.slots.run(deadline, () => this.prepare(session, resumeFrom, deadline));
    } catch (err) {
      this.log.warn({ msg: 'resume failed', sessionId: session.id, err: (err as Error)?.message });
      prepared = { reason: 'error' };
    }
    if ('reason' in prepared) {
      this.metrics.resumes.inc({ result: prepared.reason });
      session.reply({ '@type': 'resumed', recovered: false, reason: prepared.reason });
      return session.outbox.release();
    }
    const { frames, upTo, held } = prepared;
    this.metrics.resumes.inc({ result: 'recovered' });
    this.metrics.replayedFrames.inc(frames.length);
    session.replayedUpTo(upTo);
    // After the replay, paced with it: the client knows it is live from here on.
    frames.push(textFrame(Buffer.from(JSON.stringify({ '@type': 'resumed', recovered: true, replayed: frames.length }))));
    // What the replay built stays held against the memory budget until the session has it all (or is gone).
    session.outbox.release(frames, upTo, () => held.release());
  }

  /** The frames of the replay, through the live rules for this one session; or why there is none. */
  private async prepare(session: Session, resumeFrom: unknown, deadline: number): Promise<Prepared> {
    const bounds = await this.history.bounds();
    if (!bounds) return { reason: 'unavailable' };
    const check = unrecoverable(resumeFrom, bounds);
    if ('reason' in check) return check;
    // Held against the memory budget: the frames this replay builds, and a reference per frame.
    const held = this.budget.reserve(0, 'replay');
    if (!held) return { reason: 'memory' };
    try {
      const read = await this.read(session, check.offset.id, bounds, deadline, held);
      if ('reason' in read) held.release();
      return read;
    } catch (err) {
      held.release();
      throw err;
    }
  }

  /** The replay's frames from the history after `after` up to the head, `held` growing with them. */
  private async read(
    session: Session,
    after: StreamId,
    bounds: HistoryBounds,
    deadline: number,
    held: MemoryReservation,
  ): Promise<Prepared> {
    const upTo = bounds.head;
    const { replayMaxEvents, replayMaxBytes, replayScanMax } = this.config.history;
    const view = new SessionView(session);
    const frames: (Buffer | undefined)[] = [];
    /** Where the last frame of each latest-value key is in `frames` (an earlier one is dropped). */
    const latest = new Map<string, number>();
    let [count, bytes, scanned] = [0, 0, 0];
    // Page by page: what is read at once stays small, whatever the history holds.
    while (compareIds(after, upTo) < 0) {
      const page = await this.history.range(after, upTo, PAGE);
      if (!page.length) break;
      // Entries the session cannot see cost reading too: bounded apart from what it receives.
      if ((scanned += page.length) > replayScanMax) return { reason: 'too_long' };
      const out = await this.delivery.replay(page, view, bounds.epoch, deadline);
      if (!out || Date.now() > deadline) return { reason: 'timeout' };
      const cost = out.reduce((n, f) => n + FRAME_OVERHEAD + (f.fresh ? f.frame.length : 0), 0);
      if (!held.grow(cost)) return { reason: 'memory' };
      for (const { frame, latest: key } of out) {
        if (key !== undefined) {
          const earlier = latest.get(key);
          if (earlier !== undefined) {
            bytes -= frames[earlier]!.length;
            count--;
            frames[earlier] = undefined;
          }
          latest.set(key, frames.length);
        }
        frames.push(frame);
        bytes += frame.length;
        count++;
      }
      if (count > replayMaxEvents) return { reason: 'too_many' };
      if (bytes > replayMaxBytes) return { reason: 'too_large' };
      after = page[page.length - 1].id;
    }
    return { frames: frames.filter((f): f is Buffer => f !== undefined), upTo, held };
  }
}
