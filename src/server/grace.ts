// Grace-time reaping (protocol §8): one countdown per container, paused
// while any request uses the container, restarted from the full grace time
// when the last user leaves. 0 means "never", at Create and SetGraceTime
// alike (the Go server's destroy-at-once on SetGraceTime(0) is not copied).

import { ContainerNotFoundError, GardenError } from '../api/errors.js';
import type { Backend } from '../api/garden.js';
import type { Logger } from './logger.js';

const MAX_TIMER = 2 ** 31 - 1;

export class GraceReaper {
  private timers = new Map<string, NodeJS.Timeout>();
  private holds = new Map<string, number>();
  private known = new Map<string, number>();
  private generation = new Map<string, number>();
  private destroying = new Set<string>();
  private closed = false;

  constructor(private readonly backend: Backend, private readonly log: Logger) {}

  /** Stores a grace time (ms) and restarts the countdown with it. */
  set(handle: string, ms: number): void {
    this.known.set(handle, ms);
    void this.restart(handle);
  }

  /** (Re)arms from the full grace time unless the container is in use. */
  async restart(handle: string): Promise<void> {
    const gen = (this.generation.get(handle) ?? 0) + 1;
    this.generation.set(handle, gen);
    this.clearTimer(handle);
    if (this.closed || (this.holds.get(handle) ?? 0) > 0) return;
    let ms = this.known.get(handle);
    if (this.backend.graceTime) {
      try {
        ms = await this.backend.graceTime(handle);
      } catch (err) {
        if (err instanceof ContainerNotFoundError) return this.forget(handle);
        this.log.error({ err, handle }, 'grace-time-read-failed');
      }
    }
    // Something newer happened while we were reading.
    if (this.generation.get(handle) !== gen || this.closed || (this.holds.get(handle) ?? 0) > 0) return;
    if (ms === undefined || !(ms > 0)) return;
    this.arm(handle, Date.now() + ms);
  }

  private arm(handle: string, deadline: number): void {
    const left = deadline - Date.now();
    const t = setTimeout(() => {
      if (left > MAX_TIMER) this.arm(handle, deadline);
      else void this.expire(handle);
    }, Math.max(0, Math.min(left, MAX_TIMER)));
    t.unref();
    this.timers.set(handle, t);
  }

  private clearTimer(handle: string): void {
    const t = this.timers.get(handle);
    if (t) clearTimeout(t);
    this.timers.delete(handle);
  }

  /** Pauses the countdown until the returned function is called (once). */
  hold(handle: string): () => void {
    this.holds.set(handle, (this.holds.get(handle) ?? 0) + 1);
    this.generation.set(handle, (this.generation.get(handle) ?? 0) + 1);
    this.clearTimer(handle);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.holds.get(handle) ?? 1) - 1;
      if (n > 0) { this.holds.set(handle, n); return; }
      this.holds.delete(handle);
      void this.restart(handle);
    };
  }

  /** API Destroy: refuses a second destroy while one is in progress (§5.8). */
  async destroy(handle: string): Promise<void> {
    if (this.destroying.has(handle)) throw new GardenError('container already being destroyed');
    this.destroying.add(handle);
    try {
      await this.backend.destroy(handle);
      this.forget(handle);
    } finally {
      this.destroying.delete(handle);
    }
  }

  private async expire(handle: string): Promise<void> {
    this.timers.delete(handle);
    if (this.closed || this.destroying.has(handle) || (this.holds.get(handle) ?? 0) > 0) return;
    this.destroying.add(handle);
    this.log.info({ handle }, 'grace-time-expired');
    try {
      await this.backend.destroy(handle);
      this.forget(handle);
    } catch (err) {
      if (err instanceof ContainerNotFoundError) this.forget(handle);
      else this.log.error({ err, handle }, 'reap-failed');
    } finally {
      this.destroying.delete(handle);
    }
  }

  forget(handle: string): void {
    this.clearTimer(handle);
    this.known.delete(handle);
    this.generation.delete(handle);
  }

  /** For tests and /debug: is a countdown running? */
  isArmed(handle: string): boolean {
    return this.timers.has(handle);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
