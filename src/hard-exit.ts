/**
 * The last resort of shutdown: once SIGTERM starts a drain, the process ends within
 * GATEWAY_DRAIN_SECONDS plus HARD_EXIT_MARGIN_SECONDS whatever else happens. A clean drain exits
 * well before; this fires only when something is stuck, e.g. a synchronous log flush into a stdout
 * pipe nobody reads (`serve | head` after head exited), which blocks the main thread for good.
 *
 * So the timer cannot live on the main thread (a blocked event loop runs no timers, and
 * process.exit() would flush the logs first): an unref'd worker thread holds it and sends the
 * process SIGKILL (exit status 137). It writes nothing, since stderr may be blocked as well.
 */
import { Worker } from 'node:worker_threads';

/** Longer than the drain's own timeout and the admin listener's close, shorter than ECS stopTimeout. */
export const HARD_EXIT_MARGIN_SECONDS = 5;

let armed: Worker | undefined;

/** Arms the watchdog (once per process): SIGKILL after drainSeconds + the margin. */
export function armHardExit(drainSeconds: number): void {
  if (armed) return;
  const ms = Math.round((drainSeconds + HARD_EXIT_MARGIN_SECONDS) * 1000);
  armed = new Worker(`setTimeout(() => process.kill(${process.pid}, 'SIGKILL'), ${ms});`, {
    eval: true,
    stdout: true,
    stderr: true,
  });
  // It never keeps a finished process alive, and a failure to start it must not stop the drain.
  armed.unref();
  armed.on('error', () => undefined);
}
