import { Logger } from '@nestjs/common';
import type { StreamId } from '../history/offset.js';
import { textFrame } from './outbox.js';
import { nextStamp, type Session } from './session.js';

type Job =
  | { sessions: Session[]; data: Buffer; topic: string; receivedAt: number; next: number; stamp: number; offset?: StreamId }
  | { then: () => void };

/**
 * Hands frames to session outboxes in the order events arrived, at most `chunk` sessions
 * per tick: a fan-out to 100,000 sessions yields to the event loop between chunks
 * instead of blocking it, and a later small event never overtakes an earlier big one.
 * A job is stamped when built: a session whose identity changed since (`Session.accepts`)
 * is skipped, since the job's audience was computed for its previous identity; so is a
 * resumed session for an event its replay already covered (`Session.replayed`).
 */
export class Fanout {
  private readonly log = new Logger(Fanout.name);
  private readonly jobs: Job[] = [];
  private scheduled = false;

  constructor(private readonly chunk = 2000) {}

  /**
   * `data` is serialized once by the caller, and encoded to UTF-8 and framed once here: every
   * session gets the same WebSocket frame (ws would otherwise encode and frame it for each socket).
   */
  send(sessions: Iterable<Session>, data: string, topic: string, receivedAt = Date.now(), offset?: StreamId): void {
    const list = [...sessions];
    if (list.length) this.enqueue({ sessions: list, data: textFrame(Buffer.from(data)), topic, receivedAt, next: 0, stamp: nextStamp(), offset });
  }

  /** Runs `then` once every frame queued before it has been handed over. */
  after(then: () => void): void {
    this.enqueue({ then });
  }

  private enqueue(job: Job): void {
    this.jobs.push(job);
    if (!this.scheduled) this.run();
  }

  private run = (): void => {
    this.scheduled = false;
    let budget = this.chunk;
    while (this.jobs.length && budget > 0) {
      const job = this.jobs[0];
      // Runs from setImmediate: a throw would end the process. One failing step is skipped.
      try {
        if ('then' in job) {
          this.jobs.shift();
          job.then();
          continue;
        }
        while (job.next < job.sessions.length && budget-- > 0) {
          const session = job.sessions[job.next++];
          if (session.accepts(job.stamp) && !session.replayed(job.offset)) session.outbox.push(job.data, job.topic, job.receivedAt, job.offset);
        }
        if (job.next >= job.sessions.length) this.jobs.shift();
      } catch (err) {
        this.log.error(`fan-out step failed: ${(err as Error)?.stack}`);
      }
    }
    if (this.jobs.length) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  };
}
