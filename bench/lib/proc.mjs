/** A service process seen from /proc (Linux): its memory and CPU, for the memory benches. */
import { readFileSync, writeFileSync } from 'node:fs';

/** A `/proc/<pid>/status` field in bytes (VmRSS, VmHWM...). */
export const procStatus = (pid, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

/** utime + stime of `pid`, in ms (clock ticks of 10 ms). */
export const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/**
 * Resets the process's peak RSS, returns its RSS now and a function that answers the peak
 * since (sampled every 50 ms too, so that it is known even if the process dies).
 */
export function watchPeak(pid) {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const idle = procStatus(pid, 'VmRSS');
  let peak = idle;
  const sample = () => {
    try {
      peak = Math.max(peak, procStatus(pid, 'VmHWM'));
    } catch {
      // gone
    }
  };
  const timer = setInterval(sample, 50);
  return { idle, peak: () => (sample(), clearInterval(timer), peak) };
}
