import { describe, it, expect, beforeEach } from '@jest/globals';
import { Presence } from '../../src/chat/presence.js';

describe('Presence', () => {
  let p: Presence;
  beforeEach(() => {
    p = new Presence();
  });

  it('join adds the user (changed), a second session of the same user changes nothing', () => {
    expect(p.join('r1', 'alice', 's1', 0)).toEqual(['r1']);
    expect(p.join('r1', 'alice', 's2', 0)).toEqual([]);
    expect(p.join('r1', 'alice', 's1', 5)).toEqual([]);
    expect(p.users('r1')).toEqual(['alice']);
  });

  it('users() is sorted and per room', () => {
    p.join('r1', 'carol', 's3', 0);
    p.join('r1', 'alice', 's1', 0);
    p.join('r1', 'bob', 's2', 0);
    p.join('r2', 'bob', 's2', 0);
    expect(p.users('r1')).toEqual(['alice', 'bob', 'carol']);
    expect(p.users('r2')).toEqual(['bob']);
    expect(p.users('r3')).toEqual([]);
  });

  it('leave: the user stays while another of its sessions is in the room', () => {
    p.join('r1', 'alice', 's1', 0);
    p.join('r1', 'alice', 's2', 0);
    expect(p.leave('r1', 'alice', 's1')).toEqual([]);
    expect(p.users('r1')).toEqual(['alice']);
    expect(p.leave('r1', 'alice', 's2')).toEqual(['r1']);
    expect(p.users('r1')).toEqual([]);
    expect(p.leave('r1', 'alice', 's2')).toEqual([]);
  });

  it('dropSession leaves every room of the session and reports those that changed', () => {
    p.join('r1', 'alice', 's1', 0);
    p.join('r2', 'alice', 's1', 0);
    p.join('r2', 'alice', 's2', 0); // alice stays in r2 through s2
    p.join('r3', 'bob', 's3', 0);
    expect(p.dropSession('s1')).toEqual(['r1']);
    expect(p.users('r1')).toEqual([]);
    expect(p.users('r2')).toEqual(['alice']);
    expect(p.users('r3')).toEqual(['bob']);
    expect(p.roomsOf('s1')).toEqual([]);
    expect(p.dropSession('s1')).toEqual([]);
  });

  it('expire removes sessions silent for more than the timeout; ping keeps them', () => {
    p.join('r1', 'alice', 's1', 0);
    p.join('r1', 'bob', 's2', 0);
    p.join('r2', 'bob', 's2', 0);
    expect(p.ping('r1', 'alice', 's1', 15_000)).toEqual([]);
    expect(p.expire(20_000, 20_000)).toEqual([]); // exactly the timeout: still alive
    expect(p.expire(20_001, 20_000).sort()).toEqual(['r1', 'r2']);
    expect(p.users('r1')).toEqual(['alice']);
    expect(p.users('r2')).toEqual([]);
    expect(p.has('r1', 's2')).toBe(false);
    expect(p.expire(35_001, 20_000)).toEqual(['r1']);
    expect(p.users('r1')).toEqual([]);
  });

  it('expire reports a room only when its users changed', () => {
    p.join('r1', 'alice', 'old', 0);
    p.join('r1', 'alice', 'fresh', 10_000);
    expect(p.expire(25_000, 20_000)).toEqual([]);
    expect(p.has('r1', 'old')).toBe(false);
    expect(p.users('r1')).toEqual(['alice']);
  });

  it('a ping after expiry brings the session back (a PING is a JOIN frame)', () => {
    p.join('r1', 'alice', 's1', 0);
    p.expire(30_000, 20_000);
    expect(p.ping('r1', 'alice', 's1', 30_000)).toEqual(['r1']);
    expect(p.users('r1')).toEqual(['alice']);
  });

  it('a session that re-joins as another user moves presence to that user', () => {
    p.join('r1', 'alice', 's1', 0);
    expect(p.join('r1', 'bob', 's1', 1)).toEqual(['r1']);
    expect(p.users('r1')).toEqual(['bob']);
    // Both users keep another session: switching s2 from bob to alice changes nobody's presence.
    p.join('r1', 'alice', 's3', 1);
    expect(p.join('r1', 'bob', 's2', 1)).toEqual([]);
    expect(p.join('r1', 'alice', 's2', 2)).toEqual([]);
    expect(p.users('r1')).toEqual(['alice', 'bob']);
  });

  it('has and roomsOf follow membership', () => {
    p.join('r1', 'alice', 's1', 0);
    p.join('r2', 'alice', 's1', 0);
    expect(p.has('r1', 's1')).toBe(true);
    expect(p.has('r1', 's2')).toBe(false);
    expect(p.roomsOf('s1').sort()).toEqual(['r1', 'r2']);
    p.leave('r1', 'alice', 's1');
    expect(p.has('r1', 's1')).toBe(false);
    expect(p.roomsOf('s1')).toEqual(['r2']);
  });
});
