import { copyUpstreamTokens, upstreamTokensId, validateUpstreamTokenKey, validateUpstreamTokens, type UpstreamTokenStore, type UpstreamTokens } from "../../upstreams/user-tokens.js";

/** The embedded default and the tests' store: one process's map. */
export class MemoryUpstreamTokenStore implements UpstreamTokenStore {
  readonly #tokens = new Map<string, UpstreamTokens>();

  async get(userId: string, upstream: string): Promise<UpstreamTokens | null> {
    validateUpstreamTokenKey({ userId, upstream });
    const tokens = this.#tokens.get(upstreamTokensId(userId, upstream));
    return tokens ? copyUpstreamTokens(tokens) : null;
  }

  async put(tokens: UpstreamTokens): Promise<void> {
    validateUpstreamTokens(tokens);
    this.#tokens.set(upstreamTokensId(tokens.userId, tokens.upstream), copyUpstreamTokens(tokens));
  }

  async delete(userId: string, upstream: string): Promise<boolean> {
    validateUpstreamTokenKey({ userId, upstream });
    return this.#tokens.delete(upstreamTokensId(userId, upstream));
  }

  async listByUser(userId: string): Promise<UpstreamTokens[]> {
    validateUpstreamTokenKey({ userId });
    return [...this.#tokens.values()]
      .filter((t) => t.userId === userId)
      .sort((a, b) => (a.upstream < b.upstream ? -1 : a.upstream > b.upstream ? 1 : 0))
      .map(copyUpstreamTokens);
  }
}
