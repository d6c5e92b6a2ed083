// The invalidation bus over Redis pub/sub: one channel, <namespace>:invalidate, that every
// process publishes its changes to and subscribes to. Pub/sub is at-most-once and a half-open
// connection can be silent for minutes, so each process also publishes a heartbeat and watches
// for its own: not seeing it for 3 heartbeats means the subscription is down.
// On a Redis Cluster the channel is classic pub/sub: a PUBLISH to any node reaches the
// subscribers of every node, and a subscription follows no slot, so no resharding moves it
// (sharded SPUBLISH/SSUBSCRIBE would: a slot migration drops its subscribers).
import { randomBytes } from "node:crypto";
import {
  parseInvalidation,
  type ChangeEvent,
  type IgnoredReason,
  type InvalidationBus,
  type InvalidationMessage,
  type InvalidationObserver,
  type SubscriptionState,
} from "../../facts/invalidation.js";
import type { Logger } from "../../log.js";
import type { RedisClient } from "./client.js";
import { redisKeys } from "./keys.js";

export interface RedisInvalidationBusOptions {
  /** TOLLGATE_REDIS_NAMESPACE. */
  namespace?: string;
  /** TOLLGATE_INVALIDATION_HEARTBEAT_MS. */
  heartbeatMs: number;
  observer?: InvalidationObserver;
  logger?: Logger;
  now?: () => number;
}

/** Delays before the retries of a failed publish. */
export const PUBLISH_RETRY_DELAYS_MS: readonly number[] = [50, 200, 1_000];
/** Heartbeats missed before the subscription counts as down. */
export const MISSED_HEARTBEATS = 3;

export class RedisInvalidationBus implements InvalidationBus {
  readonly channel: string;
  readonly origin = randomBytes(8).toString("hex");
  #state: SubscriptionState = "down";
  #seq = 0;
  #lastOwnHeartbeat: number | null = null;
  #timer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<Promise<void>>();
  readonly #changeListeners: Array<(event: ChangeEvent) => void> = [];
  readonly #stateListeners: Array<(state: SubscriptionState) => void> = [];
  readonly #now: () => number;

  /** `publisher` may be shared; `subscriber` is this bus's own connection (subscribe mode). */
  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly options: RedisInvalidationBusOptions,
  ) {
    this.channel = redisKeys(options.namespace).invalidationChannel;
    this.#now = options.now ?? Date.now;
  }

  /** Subscribes and starts the heartbeat. Down until this process hears its own first heartbeat. */
  start(): void {
    this.subscriber.on("message", (channel: string, message: string) => this.handleMessage(channel, message));
    // ioredis resubscribes by itself after a reconnect; the heartbeat tells whether that worked.
    this.subscriber.subscribe(this.channel).catch((err: unknown) => this.options.logger?.warn({ err: String(err) }, "invalidation bus: subscribe failed; retrying on reconnect"));
    this.options.observer?.subscription(this.#state);
    this.#timer = setInterval(() => this.#beat(), this.options.heartbeatMs);
    this.#timer.unref();
    this.#beat();
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  /** Never throws and never waits: a failed publish is retried in the background and counted. */
  publish(event: ChangeEvent): void {
    const sending = this.#send(event).finally(() => this.#pending.delete(sending));
    this.#pending.add(sending);
  }

  onChange(listener: (event: ChangeEvent) => void): void {
    this.#changeListeners.push(listener);
  }

  onState(listener: (state: SubscriptionState) => void): void {
    this.#stateListeners.push(listener);
  }

  /** One message off the subscription: applied, or dropped and counted; never throws. */
  handleMessage(channel: string, raw: string): void {
    if (channel !== this.channel) return this.#ignore("wrong_channel");
    const message = parseInvalidation(raw);
    if (typeof message === "string") return this.#ignore(message);
    if (message.kind === "heartbeat") {
      if (message.origin === this.origin) {
        this.#lastOwnHeartbeat = this.#now();
        this.#setState("up");
      }
      return;
    }
    const event: ChangeEvent = { kind: message.kind, id: message.id };
    for (const listener of this.#changeListeners) {
      try {
        listener(event);
      } catch (err) {
        this.options.logger?.error({ err: String(err) }, "invalidation listener failed");
      }
    }
    this.options.observer?.applied(message.kind, Math.max(0, this.#now() - message.ts) / 1000);
  }

  /** Waits for the publishes under way (their retries included), then disconnects the subscriber. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.allSettled(this.#pending);
    this.subscriber.disconnect();
  }

  #beat(): void {
    const last = this.#lastOwnHeartbeat;
    if (last === null || this.#now() - last >= MISSED_HEARTBEATS * this.options.heartbeatMs) this.#setState("down");
    this.publisher.publish(this.channel, this.#message("heartbeat", this.origin)).catch(() => undefined);
  }

  #setState(state: SubscriptionState): void {
    if (state === this.#state) return;
    this.#state = state;
    if (state === "down") this.options.logger?.warn("invalidation bus: own heartbeat not heard; serving facts from the stores until it is");
    else this.options.logger?.info("invalidation bus: subscribed; fact cache cleared");
    this.options.observer?.subscription(state);
    for (const listener of this.#stateListeners) listener(state);
  }

  #ignore(reason: IgnoredReason): void {
    this.options.observer?.ignored(reason);
  }

  #message(kind: InvalidationMessage["kind"], id: string): string {
    const message: InvalidationMessage = { v: 1, kind, id, origin: this.origin, seq: ++this.#seq, ts: this.#now() };
    return JSON.stringify(message);
  }

  async #send(event: ChangeEvent): Promise<void> {
    const message = this.#message(event.kind, event.id);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.publisher.publish(this.channel, message);
        this.options.observer?.published(event.kind, attempt === 0 ? "ok" : "retried");
        return;
      } catch (err) {
        const delay = PUBLISH_RETRY_DELAYS_MS[attempt];
        if (delay === undefined) {
          this.options.observer?.published(event.kind, "failed");
          this.options.logger?.warn({ err: String(err), kind: event.kind }, "invalidation not published; other replicas see the change within TOLLGATE_CACHE_TTL_MS");
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }
}
