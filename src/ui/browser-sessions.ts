import type { IncomingMessage } from "node:http";

/** A signed-in browser: its user, and its session (see csrf.ts for what sessionId is for). */
export interface BrowserUser {
  userId: string;
  /**
   * Identifies the session to this process only: derived from the cookie's secret, never stored
   * and never shown. The CSRF token is derived from it, so it must not be logged or sent anywhere.
   */
  sessionId: string;
}

export interface BrowserSessions {
  /** The signed-in user of this request (session cookie), null when none/expired/revoked. */
  current(req: IncomingMessage): Promise<BrowserUser | null>;
}

/** Where the pages go when no (acceptable) return path is given. */
export const DEFAULT_RETURN_TO = "/ui/tokens";

/**
 * A same-origin path to return to after signing in, or null: it must start with one "/" (not
 * "//" nor "/\", which browsers read as another host) and hold only visible ASCII.
 */
export function safeReturnTo(returnTo: unknown): string | null {
  if (typeof returnTo !== "string" || returnTo.length > 2048) return null;
  if (!/^\/(?![/\\])[\x21-\x7e]*$/.test(returnTo)) return null;
  return returnTo;
}

/** Where to send a browser that must sign in first; return_to is a same-origin path only. */
export function signInLocation(returnTo: string): string {
  return `/ui/login?return_to=${encodeURIComponent(safeReturnTo(returnTo) ?? DEFAULT_RETURN_TO)}`;
}
