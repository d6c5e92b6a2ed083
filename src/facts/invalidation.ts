// Change events and the invalidation message format shared by every process. A message names a
// cache key, never a fact value: a forged or replayed one can at most cause a cache miss.

export const CHANGE_KINDS = ["token", "user", "project", "collaborator"] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/**
 * What changed. `id` is the cache key of the fact: a token's hash (the key every replica caches
 * it under), a user or project id, and "<projectId>/<userId>" for a collaborator ("/" is in neither
 * id alphabet, so the split is unambiguous).
 */
export interface ChangeEvent {
  kind: ChangeKind;
  id: string;
  /**
   * Set on a token's revocation, in the process that made it only: that process denies the token
   * without a store read. Never on the wire (see InvalidationMessage).
   */
  revoked?: true;
}

export const collaboratorChangeId = (projectId: string, userId: string): string => `${projectId}/${userId}`;

/**
 * On the wire: `{"v":1,"kind","id","origin","seq","ts"}`; kind "heartbeat" carries id = origin.
 * Keys only, never a fact (not even "revoked"), so a forged message can at most cause a cache
 * miss: the receiving process drops its entry and reads the store, which says what holds.
 */
export interface InvalidationMessage {
  v: 1;
  kind: ChangeKind | "heartbeat";
  id: string;
  /** The publishing process (random per process). */
  origin: string;
  /** Per-origin sequence number, for tracing lost messages. */
  seq: number;
  /** Publish time, Unix milliseconds (for the lag histogram; clocks may differ between hosts). */
  ts: number;
}

export type IgnoredReason = "wrong_channel" | "malformed" | "unknown_version" | "unknown_kind";

const MAX_ID_LENGTH = 512;

/** Parses one message; anything that is not exactly a v1 message is a reason to drop it. */
export function parseInvalidation(raw: string): InvalidationMessage | IgnoredReason {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return "malformed";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "malformed";
  const m = value as Record<string, unknown>;
  if (m.v !== 1) return "unknown_version";
  if (typeof m.kind !== "string") return "malformed";
  if (m.kind !== "heartbeat" && !(CHANGE_KINDS as readonly string[]).includes(m.kind)) return "unknown_kind";
  const idOk = typeof m.id === "string" && m.id.length > 0 && m.id.length <= MAX_ID_LENGTH;
  const originOk = typeof m.origin === "string" && m.origin.length > 0 && m.origin.length <= 64;
  if (!idOk || !originOk || !Number.isSafeInteger(m.seq) || !Number.isFinite(m.ts)) return "malformed";
  return { v: 1, kind: m.kind as InvalidationMessage["kind"], id: m.id as string, origin: m.origin as string, seq: m.seq as number, ts: m.ts as number };
}

export type SubscriptionState = "up" | "down";

/** What the bus reports, for metrics. */
export interface InvalidationObserver {
  published(kind: ChangeKind, result: "ok" | "retried" | "failed"): void;
  applied(kind: ChangeKind, lagSeconds: number | null): void;
  ignored(reason: IgnoredReason): void;
  subscription(state: SubscriptionState): void;
}

/**
 * Carries change events to every process. The write path invalidates its own cache before it
 * publishes, so a bus only has to reach the others (and reaching the publisher too is harmless).
 */
export interface InvalidationBus {
  publish(event: ChangeEvent): void;
  /** Called for every change event any process published, this one included. */
  onChange(listener: (event: ChangeEvent) => void): void;
  /** Called when the subscription is lost or restored (a bus without Redis is always up). */
  onState(listener: (state: SubscriptionState) => void): void;
  readonly state: SubscriptionState;
  close(): Promise<void>;
}

/** The embedded default: one process, so delivery is a function call and never lost. */
export class LocalInvalidationBus implements InvalidationBus {
  readonly state = "up";
  readonly #listeners: Array<(event: ChangeEvent) => void> = [];

  constructor(private readonly observer?: InvalidationObserver) {
    observer?.subscription("up");
  }

  publish(event: ChangeEvent): void {
    this.observer?.published(event.kind, "ok");
    for (const listener of this.#listeners) listener(event);
    this.observer?.applied(event.kind, 0);
  }

  onChange(listener: (event: ChangeEvent) => void): void {
    this.#listeners.push(listener);
  }

  onState(): void {}

  async close(): Promise<void> {}
}
