/**
 * A counting semaphore for requests in flight (a subscriber's max_in_flight). It can be resized
 * at runtime (PATCH) and closed at shutdown, when waiters get `false` and leave their entries
 * pending for another consumer.
 */
export class Slots {
  private used = 0;
  private closed = false;
  private readonly waiters: (() => void)[] = [];
  /**
   * Callers waiting for the load to fall below their `below`: the read loops (one per partition
   * when a subscriber's partitions share the budget), for room to read ahead.
   */
  private rooms: { below: number; wake: () => void }[] = [];

  constructor(private size: number) {}

  /** Free slots with nobody waiting for one (0 when closed). */
  free(): number {
    return this.closed || this.waiters.length > 0 ? 0 : Math.max(0, this.size - this.used);
  }

  capacity(): number {
    return this.size;
  }

  /** Calls holding or waiting for a slot. */
  load(): number {
    return this.used + this.waiters.length;
  }

  /** Waits for a slot; false once closed. */
  async acquire(): Promise<boolean> {
    while (this.used >= this.size && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
    if (this.closed) return false;
    this.used++;
    return true;
  }

  release(): void {
    this.used--;
    this.waiters.shift()?.();
    if (this.rooms.length > 0) this.wakeRooms((below) => this.load() < below);
  }

  /** Resolves once fewer than `below` calls hold or wait for a slot (at once if so already, or when closed). */
  whenLoadBelow(below: number): Promise<void> {
    if (this.closed || this.load() < below) return Promise.resolve();
    return new Promise((wake) => this.rooms.push({ below, wake }));
  }

  private wakeRooms(ready: (below: number) => boolean = () => true): void {
    const woken = this.rooms.filter((r) => ready(r.below));
    if (woken.length === 0) return;
    this.rooms = this.rooms.filter((r) => !ready(r.below));
    for (const r of woken) r.wake();
  }

  resize(size: number): void {
    this.size = size;
    for (const wake of this.waiters.splice(0)) wake();
    this.wakeRooms();
  }

  /** Wakes every waiter with `false`. */
  close(): void {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    this.wakeRooms();
  }
}
