/** What the hostile-input suites share: a seeded generator of JSON values, strings and numbers. */

/** mulberry32: small, fast, good enough to generate test input; the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a suite's generator draws from. */
export interface Vocabulary {
  /** Object keys, half of the keys of generated objects. */
  keys: readonly string[];
  /** The string generators `str()` picks among. */
  strings: (g: FuzzGen) => ReadonlyArray<() => string>;
  /** Strings `str()` must never give (the well-behaved client's names): `x` instead. */
  spared: readonly string[];
  numbers: readonly number[];
  /** Nesting depths of `deep()`. */
  depths: readonly number[];
}

export class FuzzGen {
  private readonly strings: ReadonlyArray<() => string>;

  constructor(
    private readonly rnd: () => number,
    private readonly vocabulary: Vocabulary,
  ) {
    this.strings = vocabulary.strings(this);
  }

  int = (n: number) => Math.floor(this.rnd() * n);
  chance = (p: number) => this.rnd() < p;
  pick = <T>(xs: readonly T[]): T => xs[this.int(xs.length)];

  str(): string {
    const s = this.pick(this.strings)();
    return this.vocabulary.spared.includes(s) ? 'x' : s;
  }

  num(): number {
    return this.pick(this.vocabulary.numbers);
  }

  /** Any JSON value, nested at most `depth` more levels. */
  value(depth = 3): unknown {
    const kind = this.int(depth > 0 ? 7 : 4);
    if (kind === 0) return null;
    if (kind === 1) return this.chance(0.5);
    if (kind === 2) return this.num();
    if (kind === 3) return this.str();
    if (kind === 4) return Array.from({ length: this.int(4) }, () => this.value(depth - 1));
    const out: Record<string, unknown> = {};
    // Computed keys make own properties, `__proto__` included: JSON carries them as such.
    for (let i = this.int(4); i > 0; i--) out[this.chance(0.6) ? this.pick(this.vocabulary.keys) : this.str()] = this.value(depth - 1);
    return out;
  }

  /** JSON nested `depths` deep: arrays or objects. */
  deep(): string {
    const n = this.pick(this.vocabulary.depths);
    return this.chance(0.5) ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  }
}
