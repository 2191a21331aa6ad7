/** A small typed listener set: `on` returns the function that removes the listener. */
export class Listeners<Events extends Record<string, unknown[]>> {
  private readonly sets: { [K in keyof Events]?: Set<(...args: Events[K]) => void> } = {};

  on<K extends keyof Events>(kind: K, fn: (...args: Events[K]) => void): () => void {
    const set = (this.sets[kind] ??= new Set());
    set.add(fn);
    return () => void set.delete(fn);
  }

  emit<K extends keyof Events>(kind: K, ...args: Events[K]): void {
    for (const fn of [...(this.sets[kind] ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        // One failing handler must not starve the others or break the socket's dispatch.
        const report = (globalThis as { reportError?: (e: unknown) => void }).reportError ?? console.error;
        report(err);
      }
    }
  }
}
