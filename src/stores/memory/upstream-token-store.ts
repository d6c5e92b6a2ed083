import { copyUpstreamTokens, upstreamTokensId, validateUpstreamTokenKey, validateUpstreamTokens, type UpstreamConnection, type UpstreamTokenStore, type UpstreamTokens } from "../../upstreams/user-tokens.js";

/** Users' upstream tokens in this process (the embedded default, tests): copies on write and on read. */
export class MemoryUpstreamTokenStore implements UpstreamTokenStore {
  readonly #connections = new Map<string, { userId: string; upstream: string; tokens: UpstreamTokens }>();

  async get(userId: string, upstream: string): Promise<UpstreamTokens | null> {
    validateUpstreamTokenKey({ userId, upstream });
    const connection = this.#connections.get(upstreamTokensId(userId, upstream));
    return connection ? copyUpstreamTokens(connection.tokens) : null;
  }

  async put(userId: string, upstream: string, tokens: UpstreamTokens): Promise<void> {
    validateUpstreamTokens(userId, upstream, tokens);
    this.#connections.set(upstreamTokensId(userId, upstream), { userId, upstream, tokens: copyUpstreamTokens(tokens) });
  }

  async delete(userId: string, upstream: string): Promise<boolean> {
    validateUpstreamTokenKey({ userId, upstream });
    return this.#connections.delete(upstreamTokensId(userId, upstream));
  }

  async listByUser(userId: string): Promise<UpstreamConnection[]> {
    validateUpstreamTokenKey({ userId });
    return [...this.#connections.values()]
      .filter((c) => c.userId === userId)
      .sort((a, b) => (a.upstream < b.upstream ? -1 : a.upstream > b.upstream ? 1 : 0))
      .map((c) => ({ upstream: c.upstream, tokens: copyUpstreamTokens(c.tokens) }));
  }
}
