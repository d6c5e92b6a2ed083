import { createHash } from "node:crypto";

// Every Redis key and channel Tollgate uses is built here, under one namespace, so keys never collide with
// another application's (or another test's) and can be listed with SCAN <namespace>:*.

export const DEFAULT_NAMESPACE = "tollgate";

export interface RedisKeys {
  readonly namespace: string;
  /** Hash: the rolling-window counters of one rate-limit key and window (see rate-limiter.ts). */
  rateLimit(key: string, windowMs: number): string;
  /** Set: the JSON-encoded ids of one caller's tools/list requests (see tools-list-requests.ts). */
  toolsListRequests(caller: string): string;
  /** String: one browser session (src/stores/redis/browser-session-store.ts), by its hash. */
  browserSession(hash: string): string;
  /**
   * String: the binding id an MCP session belongs to (mcp-session-store.ts). The session id is
   * in base64url (no ":" or "{"), so the partition's hash tag is the key's first: on a cluster
   * the session shares the slot of a rate-limit key holding `{partition}`.
   */
  mcpSession(partition: string, sessionId: string): string;
  /**
   * The OAuth authorization server's objects (oauth-store.ts). Each key's hash tag is
   * `{model:id}` (the id in base64url, so no "}" ends the tag early): an entry and its
   * consumption marker share one slot, and consume() is one script on one node of a cluster.
   */
  oauthEntry(model: string, id: string): string;
  /** String: the one consumption of an entry (a code, a refresh token); same slot as oauthEntry. */
  oauthConsumed(model: string, id: string): string;
  /** Set: the ids of a model's entries of one grant (the refresh family), tagged `{model:grantId}`. */
  oauthGrantMembers(model: string, grantId: string): string;
  /** String: the id of a model's entry with this uid (interactions, sessions), tagged `{model:uid}`. */
  oauthUid(model: string, uid: string): string;
  /**
   * String: one DCR registration (src/stores/redis/dcr-credential-store.ts), by its key's id
   * (dcrKeyId), hashed: URLs of any length and alphabet become a fixed-shape key.
   */
  dcrCredentials(keyId: string): string;
  /** String: the holder of one cross-replica upstream lock (src/upstreams/locks.ts): a registration, a refresh. */
  upstreamLock(name: string): string;
  /** Pub/sub channel of the fact-cache invalidation bus (src/stores/redis/invalidation-bus.ts). */
  readonly invalidationChannel: string;
}

export function redisKeys(namespace: string = DEFAULT_NAMESPACE): RedisKeys {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(namespace)) throw new TypeError(`invalid redis key namespace: ${namespace}`);
  return {
    namespace,
    // The caller's key goes last, after a fixed-shape prefix, so no key can imitate another kind.
    // The window is part of the key: counters of different windows never mix.
    rateLimit: (key, windowMs) => `${namespace}:rl:${windowMs}:${key}`,
    toolsListRequests: (caller) => `${namespace}:mcp:tl:${caller}`,
    mcpSession: (partition, sessionId) => `${namespace}:mcps:${Buffer.from(sessionId).toString("base64url")}:{${partition}}`,
    invalidationChannel: `${namespace}:invalidate`,
    browserSession: (hash) => `${namespace}:bs:${hash}`,
    oauthEntry: (model, id) => `${namespace}:oauth:e:${oauthTag(model, id)}`,
    oauthConsumed: (model, id) => `${namespace}:oauth:c:${oauthTag(model, id)}`,
    oauthGrantMembers: (model, grantId) => `${namespace}:oauth:g:${oauthTag(model, grantId)}`,
    oauthUid: (model, uid) => `${namespace}:oauth:u:${oauthTag(model, uid)}`,
    dcrCredentials: (keyId) => `${namespace}:dcr:${createHash("sha256").update(keyId).digest("base64url")}`,
    upstreamLock: (name) => `${namespace}:ulock:${name}`,
  };
}

/** `{model:base64url(id)}`: a Redis Cluster hash tag naming one object of one model. */
const oauthTag = (model: string, id: string): string => `{${model}:${Buffer.from(id).toString("base64url")}}`;
