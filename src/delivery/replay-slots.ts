/**
 * At most `max` replays at once; the others wait their turn (at most `queueMax` of them), each
 * until its deadline. A resume storm (every client of a restarted pod at once) is served a
 * few at a time instead of all reading and holding frames together.
 */
export class ReplaySlots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly queueMax: number,
  ) {}

  /** `work`'s result; `busy` when the queue is full, `timeout` when no slot came free before the deadline. */
  async run<T>(deadline: number, work: () => Promise<T>): Promise<T | { reason: 'busy' | 'timeout' }> {
    if (this.active >= this.max) {
      if (this.waiting.length >= this.queueMax) return { reason: 'busy' };
      let turn!: () => void;
      const granted = new Promise<boolean>((resolve) => (turn = () => resolve(true)));
      this.waiting.push(turn);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
      const got = await Promise.race([granted, late]);
      clearTimeout(timer);
      if (!got) {
        const i = this.waiting.indexOf(turn);
        if (i >= 0) this.waiting.splice(i, 1);
        else this.next(); // granted as the deadline passed: hand it on
        return { reason: 'timeout' };
      }
    }
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.next();
    }
  }

  private next(): void {
    if (this.active < this.max) this.waiting.shift()?.();
  }
}
