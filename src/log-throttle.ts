/**
 * At most one log line per key per interval, so an outage that fails every request does not
 * write a line per request; the next line says how many were held back.
 */
export class LogThrottle {
  readonly #keys = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Null: hold this line back. Otherwise log it, with the number of lines held back since the last. */
  take(key: string): { held: number } | null {
    const now = this.now();
    const entry = this.#keys.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.held++;
      return null;
    }
    this.#keys.set(key, { at: now, held: 0 });
    return { held: entry?.held ?? 0 };
  }
}
