/**
 * The machine's background load during a measurement, from /proc (Linux): the load average,
 * the CPU used by Redis, and the CPU used by every other process (all CPU time on the machine
 * minus the bench's own processes and Redis), in cores (1.0 = one core busy all the time).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ: /proc times are in 1/100 s on Linux

function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0); // idle + iowait
  return { total, busy: total - idle };
}

function processTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0; // gone
  }
}

function redisPids() {
  try {
    return execFileSync('pgrep', ['-x', 'redis-server'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export class Background {
  /** `pids`: the bench's own processes; `redis`: the Redis processes to count apart (default: every redis-server now running). */
  constructor(pids, redis = redisPids()) {
    this.pids = new Set(pids);
    this.redis = redis;
  }

  track(pid) {
    this.pids.add(pid);
  }

  untrack(pid) {
    this.pids.delete(pid);
  }

  sample() {
    const own = new Map([...this.pids].map((p) => [p, processTicks(p)]));
    return { at: Date.now(), machine: machineTicks(), own, redis: this.redis.reduce((a, p) => a + processTicks(p), 0), loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') };
  }

  start() {
    return this.sample();
  }

  /** Cores used meanwhile by Redis and by everything that is neither the bench nor Redis. */
  stop(a) {
    const b = this.sample();
    const seconds = (b.at - a.at) / 1000;
    let own = 0;
    for (const [pid, t] of b.own) own += t - (a.own.get(pid) ?? t);
    const redis = b.redis - a.redis;
    const others = b.machine.busy - a.machine.busy - own - redis;
    return {
      seconds,
      loadavg: `${a.loadavg} -> ${b.loadavg}`,
      load1: [Number(a.loadavg.split(' ')[0]), Number(b.loadavg.split(' ')[0])],
      benchCores: own / TICKS / seconds,
      redisCores: redis / TICKS / seconds,
      othersCores: Math.max(0, others) / TICKS / seconds,
    };
  }
}
