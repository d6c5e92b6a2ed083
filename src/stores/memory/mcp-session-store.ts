import { validateMcpSessionRef } from "../validate.js";
import type { McpSessionRef, McpSessionState, McpSessionStore } from "../types.js";

export interface MemoryMcpSessionStoreOptions {
  /** Milliseconds clock; injectable for tests. Default Date.now. */
  now?: () => number;
  /** Drop expired sessions every this many calls. Default 1000. */
  sweepEvery?: number;
}

interface Held {
  binding_id: string;
  expiresAt: number;
}

/**
 * Sessions in this process (the embedded default). Every method does its work synchronously, so
 * each is atomic; checkNow() is what the memory rate limiter calls within a hit.
 */
export class MemoryMcpSessionStore implements McpSessionStore {
  private readonly sessions = new Map<string, Held>();
  private readonly now: () => number;
  private readonly sweepEvery: number;
  private sinceSweep = 0;

  constructor(options: MemoryMcpSessionStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepEvery = options.sweepEvery ?? 1000;
  }

  async bind(session: McpSessionRef): Promise<void> {
    const s = validateMcpSessionRef(session);
    const now = this.tick();
    this.sessions.set(keyOf(s), { binding_id: s.binding_id, expiresAt: now + s.ttl_ms });
  }

  async check(session: McpSessionRef): Promise<McpSessionState> {
    return this.checkNow(validateMcpSessionRef(session));
  }

  /** check() for a session already validated (the memory rate limiter's hit). */
  checkNow(s: McpSessionRef): McpSessionState {
    const now = this.tick();
    const held = this.live(keyOf(s), now);
    if (!held) return "unknown";
    if (held.binding_id !== s.binding_id) return "other";
    held.expiresAt = now + s.ttl_ms;
    return "bound";
  }

  async end(session: McpSessionRef): Promise<boolean> {
    const s = validateMcpSessionRef(session);
    const key = keyOf(s);
    if (this.live(key, this.tick())?.binding_id !== s.binding_id) return false;
    this.sessions.delete(key);
    return true;
  }

  /** Number of sessions held, expired ones not yet swept included (for tests). */
  get size(): number {
    return this.sessions.size;
  }

  private live(key: string, now: number): Held | null {
    const held = this.sessions.get(key);
    if (!held) return null;
    if (held.expiresAt > now) return held;
    this.sessions.delete(key);
    return null;
  }

  private tick(): number {
    const now = this.now();
    if (++this.sinceSweep >= this.sweepEvery) {
      this.sinceSweep = 0;
      for (const [key, held] of this.sessions) if (held.expiresAt <= now) this.sessions.delete(key);
    }
    return now;
  }
}

// A session id holds no "\n" (visible ASCII only), so the key is unambiguous.
const keyOf = (s: McpSessionRef): string => `${s.partition}\n${s.session_id}`;
