/** A service process seen from /proc (Linux): its memory and CPU, for the memory benches. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';

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

/** Whether a child process has ended. */
export const exited = (proc) => proc.exitCode !== null || proc.signalCode !== null;

/**
 * `node --max-old-space-size=<heap> <dir>/dist/main.js` on a random port with `env`; resolves
 * once it answers /readyz with `{ proc, url, ws }` (`ws`: the ws:// base, no path).
 */
export async function startService(dir, { heap, env, execArgv = [] }) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = spawn(process.execPath, [`--max-old-space-size=${heap}`, ...execArgv, `${dir}/dist/main.js`], {
    cwd: dir,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400; i++) {
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return { proc, url, ws: `ws://127.0.0.1:${port}` };
    if (exited(proc)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`server in ${dir} did not become ready`);
}
