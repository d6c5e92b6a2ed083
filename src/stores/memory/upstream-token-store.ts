import type { UpstreamTokens, UpstreamTokenStore } from "../../upstreams/connect.js";

/** Users' upstream tokens in this process (the embedded default): copies on write and on read. */
export class MemoryUpstreamTokenStore implements UpstreamTokenStore {
  readonly #tokens = new Map<string, UpstreamTokens>();

  async get(userId: string, upstream: string): Promise<UpstreamTokens | null> {
    const t = this.#tokens.get(key(userId, upstream));
    return t ? { ...t, scopes: [...t.scopes] } : null;
  }

  async put(userId: string, upstream: string, tokens: UpstreamTokens): Promise<void> {
    this.#tokens.set(key(userId, upstream), { ...tokens, scopes: [...tokens.scopes] });
  }

  async delete(userId: string, upstream: string): Promise<boolean> {
    return this.#tokens.delete(key(userId, upstream));
  }
}

const key = (userId: string, upstream: string): string => JSON.stringify([userId, upstream]);
