// Where Redis's clock stands against ours, so a deadline can be written in Redis TIME without
// assuming the two hosts' clocks agree.

/** This process's monotonic clock in microseconds (never steps with NTP). */
export const monotonicUs = (): number => performance.now() * 1000;

/**
 * The offset Redis TIME − monotonicUs(), learned from replies: a reply carrying Redis time t,
 * sent at s and received at r, proves the offset lies in [t − r, t − s]. The estimate is the
 * largest lower bound seen, dropped back to the newest lower bound when a reply proves it too
 * high (the Redis clock stepped back or drifts slower). So it errs low: a deadline computed with
 * it falls, in Redis time, no later than the moment we give up (up to drift since the last
 * reply, microseconds), whatever the clocks' difference.
 */
export class RedisClockOffset {
  #us: number | null = null;

  /** null until the first reply. */
  get us(): number | null {
    return this.#us;
  }

  sample(sentUs: number, redisUs: number, receivedUs: number): void {
    const low = redisUs - receivedUs;
    const high = redisUs - sentUs;
    this.#us = this.#us === null || this.#us > high ? low : Math.max(this.#us, low);
  }
}
