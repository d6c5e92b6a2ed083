import { hash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isLoopbackHost } from "../config/config.js";
import type { BrowserSessionStore } from "../stores/types.js";
import { hashToken } from "../tokens/format.js";

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

const COOKIE = "tollgate_session";
/** With Secure: the __Host- prefix makes the browser refuse it from a subdomain or another path. */
const SECURE_COOKIE = `__Host-${COOKIE}`;

export interface StoredBrowserSessionsOptions {
  store: BrowserSessionStore;
  /** TOLLGATE_UI_SESSION_TTL_S. */
  ttlS: number;
  /** Production: the cookie is Secure on every host. Development: except on a loopback host. */
  production: boolean;
  clock?: () => Date;
}

/**
 * Browser sessions kept in the shared store, so any replica serves them: the cookie holds a
 * random secret (HttpOnly, SameSite=Lax, Secure except on loopback in development), the store
 * its hash, the user and the expiry.
 */
export class StoredBrowserSessions implements BrowserSessions {
  readonly #options: StoredBrowserSessionsOptions;
  readonly #clock: () => Date;

  constructor(options: StoredBrowserSessionsOptions) {
    this.#options = options;
    this.#clock = options.clock ?? (() => new Date());
  }

  async current(req: IncomingMessage): Promise<BrowserUser | null> {
    const secret = this.#secretOf(req);
    if (secret === null) return null;
    const session = await this.#options.store.get(hashToken(secret), this.#clock());
    return session ? { userId: session.user_id, sessionId: sessionIdOf(secret) } : null;
  }

  /** Signs the browser in as `userId`: a new session (the one it had, if any, is ended). */
  async start(req: IncomingMessage, res: ServerResponse, userId: string): Promise<BrowserUser> {
    await this.end(req, res);
    const secret = randomBytes(32).toString("base64url");
    const now = this.#clock();
    const expires = new Date(now.getTime() + this.#options.ttlS * 1000);
    await this.#options.store.create({ hash: hashToken(secret), user_id: userId, created_at: now, expires_at: expires });
    this.#setCookie(req, res, secret, this.#options.ttlS);
    return { userId, sessionId: sessionIdOf(secret) };
  }

  /** Revokes the request's session (if any) and clears the cookie. */
  async end(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const secret = this.#secretOf(req);
    if (secret === null) return;
    await this.#options.store.revoke(hashToken(secret));
    this.#setCookie(req, res, "", 0);
  }

  /** Whether this request's cookies are Secure (and carry the __Host- prefix). */
  secure(req: IncomingMessage): boolean {
    return this.#options.production || !isLoopbackHost(hostnameOf(req));
  }

  #secretOf(req: IncomingMessage): string | null {
    const value = cookieValue(req, this.secure(req) ? SECURE_COOKIE : COOKIE);
    return value !== null && SECRET_RE.test(value) ? value : null;
  }

  #setCookie(req: IncomingMessage, res: ServerResponse, value: string, maxAgeS: number): void {
    const secure = this.secure(req);
    const cookie = `${secure ? SECURE_COOKIE : COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
    appendSetCookie(res, cookie);
  }
}

/** 32 random bytes, base64url. */
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

/** The session's id for this process (CSRF): a digest of the secret apart from the stored hash. */
function sessionIdOf(secret: string): string {
  return hash("sha256", `tollgate browser session\0${secret}`, "base64url");
}

/** The Host header's host name (lower case, IPv6 in brackets), without the port. */
function hostnameOf(req: IncomingMessage): string {
  const host = (req.headers.host ?? "").toLowerCase();
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
}

/** One cookie's value from the Cookie header; null when absent. */
export function cookieValue(req: IncomingMessage, name: string): string | null {
  for (const pair of (req.headers.cookie ?? "").split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return null;
}

/** Adds a Set-Cookie header, keeping those already set. */
export function appendSetCookie(res: ServerResponse, cookie: string): void {
  const set = res.getHeader("Set-Cookie");
  res.setHeader("Set-Cookie", [...(Array.isArray(set) ? set : typeof set === "string" ? [set] : []), cookie]);
}
