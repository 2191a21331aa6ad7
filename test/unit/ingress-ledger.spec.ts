import { describe, expect, it } from '@jest/globals';
import { IngressLedger } from '../../src/history/ingress-ledger.js';

type Step =
  | ['recv', string] // a pub/sub message (channel c, payload)
  | ['seen', number, string] // a stream entry (id ms, payload)
  | ['wait', number]; // ms pass, then expire()

/** Runs the steps; returns what is still pending (would be appended by a takeover) and how many were lost. */
function run(steps: Step[], windowMs = 1000, max = 100) {
  let now = 0;
  const ledger = new IngressLedger({ windowMs, max, now: () => now });
  let lost = 0;
  const fresh: string[] = [];
  for (const step of steps) {
    if (step[0] === 'recv') {
      if (ledger.received('c', step[1])) fresh.push(step[1]);
    } else if (step[0] === 'seen') ledger.observed(`${step[1]}-0`, 'c', step[2]);
    else {
      now += step[1];
      lost += ledger.expire();
    }
  }
  return { pending: ledger.all().map((p) => p.raw), lost, fresh };
}

describe('IngressLedger: what a takeover appends', () => {
  it.each<[string, Step[], string[], number]>([
    ['received then appended: nothing pending', [['recv', 'a'], ['seen', 1, 'a']], [], 0],
    ['received, never appended: pending (the takeover appends it)', [['recv', 'a']], ['a'], 0],
    ['appended before its pub/sub copy arrived: not pending', [['seen', 1, 'a'], ['recv', 'a']], [], 0],
    ['two identical messages, one appended: one pending', [['recv', 'a'], ['recv', 'a'], ['seen', 1, 'a']], ['a'], 0],
    ['two identical messages, both appended: none pending', [['recv', 'a'], ['recv', 'a'], ['seen', 1, 'a'], ['seen', 2, 'a']], [], 0],
    ['the same entry read twice (reader and catch-up): counted once', [['recv', 'a'], ['recv', 'a'], ['seen', 1, 'a'], ['seen', 1, 'a']], ['a'], 0],
    ['an older id after a newer one: ignored', [['recv', 'a'], ['seen', 5, 'b'], ['seen', 3, 'a']], ['a'], 0],
    ['order kept among pending', [['recv', 'a'], ['recv', 'b'], ['recv', 'c'], ['seen', 1, 'b']], ['a', 'c'], 0],
    ['pending past the window: lost, counted', [['recv', 'a'], ['wait', 1001], ['recv', 'b']], ['b'], 1],
    ['a seen entry is forgotten after the window: a later identical message is new', [['seen', 1, 'a'], ['wait', 1001], ['recv', 'a']], ['a'], 0],
  ])('%s', (_name, steps, pending, lost) => {
    const result = run(steps);
    expect(result.pending).toEqual(pending);
    expect(result.lost).toBe(lost);
  });

  it('is bounded: past `max` pending, the oldest go (counted lost)', () => {
    const steps: Step[] = Array.from({ length: 150 }, (_, i) => ['recv', `m${i}`] as Step);
    const result = run([...steps, ['wait', 0]], 1000, 100);
    expect(result.pending).toHaveLength(100);
    expect(result.pending[0]).toBe('m50');
    expect(result.lost).toBe(50);
  });

  it('is bounded in bytes: past `maxBytes` of pending payload, the oldest go at once (counted lost)', () => {
    let now = 0;
    const ledger = new IngressLedger({ windowMs: 1000, max: 100, maxBytes: 1000, now: () => now });
    for (let i = 0; i < 5; i++) ledger.received('c', String(i).repeat(300));
    expect(ledger.all().map((p) => p.raw[0])).toEqual(['2', '3', '4']);
    expect(ledger.expire()).toBe(2);
    now += 10;
    expect(ledger.expire()).toBe(0);
  });

  it('is bounded: past `max` seen-unmatched entries (direct appends), the oldest are forgotten', () => {
    const steps: Step[] = Array.from({ length: 150 }, (_, i) => ['seen', i + 1, `d${i}`] as Step);
    const result = run([...steps, ['wait', 0], ['recv', 'd0'], ['recv', 'd149']], 1000, 100);
    expect(result.fresh).toEqual(['d0']);
  });
});

describe('IngressLedger.settled: a chat event waits for the history events received before it', () => {
  // Rows: messages received (seq 1, 2, 3...), those seen in the stream, then settled(seq) for seq 1..3.
  it.each<[string, string[], string[], boolean[]]>([
    ['nothing pending', [], [], [true, true, true]],
    ['the first pending', ['a', 'b'], [], [false, false, false]],
    ['the first seen, the second pending', ['a', 'b'], ['a'], [true, false, false]],
    ['both seen', ['a', 'b'], ['a', 'b'], [true, true, true]],
    ['the second seen, the first pending', ['a', 'b'], ['b'], [false, false, false]],
    ['three, the middle one pending', ['a', 'b', 'c'], ['a', 'c'], [true, false, false]],
  ])('%s', (_name, received, seen, settled) => {
    const ledger = new IngressLedger({ windowMs: 1000, max: 100 });
    for (const raw of received) ledger.received('c', raw);
    seen.forEach((raw, i) => ledger.observed(`${i + 1}-0`, 'c', raw));
    expect([1, 2, 3].map((seq) => ledger.settled(seq))).toEqual(settled);
  });
});
