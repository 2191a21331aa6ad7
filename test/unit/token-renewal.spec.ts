import { describe, expect, it } from '@jest/globals';
import { firstPendingStep, renewalPlan, stepAtSubscribe, type RenewalStep } from '../../src/sessions/token-renewal.js';

const s = (sec: number, kind: RenewalStep['kind']): RenewalStep => ({ at: sec * 1000, kind });

describe('renewalPlan', () => {
  it.each<[string, number, number, { graceSeconds: number; renewBeforeSeconds: number; prompt: boolean }, RenewalStep[]]>([
    [
      'an hour-long token on /ws: expiring 60 s before, prompts 3 s before and halfway through the grace',
      4600,
      1000,
      { graceSeconds: 30, renewBeforeSeconds: 60, prompt: true },
      [s(4540, 'expiring'), s(4597, 'prompt'), s(4615, 'prompt'), s(4630, 'expired')],
    ],
    ['/chat: no idm prompts', 4600, 1000, { graceSeconds: 30, renewBeforeSeconds: 60, prompt: false }, [s(4540, 'expiring'), s(4630, 'expired')]],
    ['renew-before capped at half the lifetime', 1010, 1000, { graceSeconds: 30, renewBeforeSeconds: 60, prompt: false }, [s(1005, 'expiring'), s(1040, 'expired')]],
    ['TOKEN_RENEW_BEFORE_SECONDS=0: no expiring frame', 4600, 1000, { graceSeconds: 30, renewBeforeSeconds: 0, prompt: false }, [s(4630, 'expired')]],
    ['no grace: one prompt, expired at exp', 4600, 1000, { graceSeconds: 0, renewBeforeSeconds: 60, prompt: true }, [s(4540, 'expiring'), s(4597, 'prompt'), s(4600, 'expired')]],
    ['a grace under 2 s: no second prompt', 4600, 1000, { graceSeconds: 1, renewBeforeSeconds: 60, prompt: true }, [s(4540, 'expiring'), s(4597, 'prompt'), s(4601, 'expired')]],
    ['short token: the prompt may come before the expiring frame', 1008, 1000, { graceSeconds: 2, renewBeforeSeconds: 2, prompt: true }, [s(1005, 'prompt'), s(1006, 'expiring'), s(1009, 'prompt'), s(1010, 'expired')]],
  ])('%s', (_name, exp, iat, opts, expected) => {
    expect(renewalPlan(exp, iat, opts)).toEqual(expected);
  });
});

describe('firstPendingStep: the steps from there are those still to come', () => {
  const plan = [s(10, 'expiring'), s(17, 'prompt'), s(35, 'prompt'), s(50, 'expired')];
  it.each<[string, number, RenewalStep[]]>([
    ['before everything: all', 0, plan],
    ['past the expiring frame (a re-subscribe with the same token): not sent again', 11_000, plan.slice(1)],
    ['exactly at a step: already past', 17_000, plan.slice(2)],
    ['past the end of the grace: expired stays, at once', 60_000, [s(50, 'expired')]],
  ])('%s', (_name, now, expected) => {
    expect(plan.slice(firstPendingStep(plan, now))).toEqual(expected);
  });
});

describe('stepAtSubscribe: what a (re-)subscribe arms', () => {
  const plan = [s(10, 'expiring'), s(17, 'prompt'), s(35, 'prompt'), s(50, 'expired')];
  const short = [s(1005, 'prompt'), s(1006, 'expiring'), s(1009, 'prompt'), s(1010, 'expired')];
  const noExpiring = [s(17, 'prompt'), s(35, 'prompt'), s(50, 'expired')];
  it.each<[string, RenewalStep[], number, number | undefined, RenewalStep[]]>([
    ['before the expiring frame: everything, in time', plan, 0, undefined, plan],
    ['with less than the renew-before left: expiring at once, then the rest', plan, 11_000, undefined, plan],
    ['within the last seconds: expiring at once, then the prompt already due', plan, 18_000, undefined, plan],
    ['short token past its first prompt: expiring at once, the past prompt skipped', short, 1_006_500, undefined, short.slice(1)],
    ['no expiring frame in the plan (/chat, or TOKEN_RENEW_BEFORE_SECONDS=0): past steps skipped', noExpiring, 20_000, undefined, noExpiring.slice(1)],
    ['the same token again after its expiring frame: not sent again', plan, 11_000, 1, plan.slice(1)],
    ['the same token again before its expiring frame: still to come', plan, 5_000, 0, plan],
    ['the same token again, its place behind the clock: past steps skipped', plan, 20_000, 1, plan.slice(2)],
  ])('%s', (_name, steps, now, reached, expected) => {
    expect(steps.slice(stepAtSubscribe(steps, now, reached))).toEqual(expected);
  });
});
