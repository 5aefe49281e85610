// Grace-time reaping for an embedded backend (protocol §8): a container that
// nobody has used for its grace time is destroyed. Every operation on it
// restarts the countdown; a live attachment holds it. A server that reaps by
// itself (GardenServer) opens the backend with `reap: false`.

const MAX_TIMER = 2 ** 31 - 1;

export class GraceReaper {
  private timers = new Map<string, NodeJS.Timeout>();
  private holds = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly graceOf: (handle: string) => number | undefined,
    private readonly destroy: (handle: string) => Promise<void>,
    private readonly onError: (handle: string, err: unknown) => void,
  ) {}

  /** Restarts the countdown from the full grace time (unless held). */
  touch(handle: string): void {
    this.clear(handle);
    if (this.closed || (this.holds.get(handle) ?? 0) > 0) return;
    const ms = this.graceOf(handle);
    if (!ms || ms <= 0) return;
    this.arm(handle, Date.now() + ms);
  }

  /** Pauses the countdown until the returned release is called (once). */
  hold(handle: string): () => void {
    this.holds.set(handle, (this.holds.get(handle) ?? 0) + 1);
    this.clear(handle);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.holds.get(handle) ?? 1) - 1;
      if (n > 0) this.holds.set(handle, n);
      else {
        this.holds.delete(handle);
        this.touch(handle);
      }
    };
  }

  forget(handle: string): void {
    this.clear(handle);
    this.holds.delete(handle);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private arm(handle: string, deadline: number): void {
    const left = deadline - Date.now();
    const t = setTimeout(() => {
      this.timers.delete(handle);
      if (left > MAX_TIMER) return this.arm(handle, deadline);
      this.destroy(handle).catch((err) => this.onError(handle, err));
    }, Math.max(0, Math.min(left, MAX_TIMER)));
    t.unref();
    this.timers.set(handle, t);
  }

  private clear(handle: string): void {
    const t = this.timers.get(handle);
    if (t) clearTimeout(t);
    this.timers.delete(handle);
  }
}
