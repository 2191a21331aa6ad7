/** What waits in a DueQueue: its place and time are kept on the item itself. */
export interface Due {
  /** When it is due, in the queue's clock (ms). */
  dueAt: number;
  /** Its index in the queue's heap; -1 when not queued. */
  dueIndex: number;
}

/**
 * One Node timer for many items, each due at its own time: a binary heap by due time. A
 * Timeout per session, with its callback or arguments, costs ~230 B of heap; a place in
 * the heap costs two fields. The clock is monotonic, as Node's timers are, and injected
 * for tests. Items are handed to `fire` in due order, each once per `set`.
 */
export class DueQueue<T extends Due> {
  private readonly heap: T[] = [];
  private timer?: NodeJS.Timeout;
  /** When the timer fires; Infinity when none is set. */
  private timerAt = Infinity;

  constructor(
    private readonly fire: (item: T) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Due `delay` ms from now (replaces its previous time, if any). */
  set(item: T, delay: number): void {
    this.delete(item);
    // In whole ms, never early: a small integer, which V8 keeps in the field without a box.
    item.dueAt = Math.ceil(this.now() + Math.max(0, delay));
    item.dueIndex = this.heap.push(item) - 1;
    this.up(item.dueIndex);
    this.arm();
  }

  delete(item: T): void {
    const i = item.dueIndex;
    if (i < 0 || this.heap[i] !== item) return;
    item.dueIndex = -1;
    const last = this.heap.pop()!;
    if (last === item) return;
    this.heap[i] = last;
    last.dueIndex = i;
    this.down(i);
    this.up(last.dueIndex);
  }

  private arm(): void {
    const next = this.heap[0];
    if (!next) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    if (next.dueAt >= this.timerAt && this.timer) return; // the timer set fires first
    clearTimeout(this.timer);
    // Timers overflow past ~24.8 days: wake up then and look again.
    const wait = Math.min(Math.max(0, next.dueAt - this.now()), 2 ** 31 - 1);
    this.timerAt = this.now() + wait;
    this.timer = setTimeout(() => this.run(), wait);
    this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    try {
      const now = this.now();
      while (this.heap.length && this.heap[0].dueAt <= now) {
        const item = this.heap[0];
        this.delete(item);
        this.fire(item);
      }
    } finally {
      this.arm();
    }
  }

  private up(i: number): void {
    const { heap } = this;
    const item = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].dueAt <= item.dueAt) break;
      heap[i] = heap[parent];
      heap[i].dueIndex = i;
      i = parent;
    }
    heap[i] = item;
    item.dueIndex = i;
  }

  private down(i: number): void {
    const { heap } = this;
    const item = heap[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1].dueAt < heap[child].dueAt) child++;
      if (item.dueAt <= heap[child].dueAt) break;
      heap[i] = heap[child];
      heap[i].dueIndex = i;
      i = child;
    }
    heap[i] = item;
    item.dueIndex = i;
  }
}
