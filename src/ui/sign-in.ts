import { performance } from "node:perf_hooks";
import { Router, type Request, type Response } from "express";
import { RequestError } from "../errors.js";
import { clientAddress, limitedClient, type TrustedProxies } from "../http/client-address.js";
import type { Logger } from "../log.js";
import { DEMO_USERS } from "../server/demo.js";
import type { RateLimiter } from "../stores/types.js";
import { appendSetCookie, cookieValue, DEFAULT_RETURN_TO, safeReturnTo, type StoredBrowserSessions } from "./browser-sessions.js";
import { formBody, formUser, fromThisSite, page } from "./forms.js";
import type { OidcSignIn, PendingSignIn } from "./oidc.js";
import { html, renderPage } from "./page.js";
import type { UiAudit } from "./ui-audit.js";

export interface SignInDeps {
  sessions: StoredBrowserSessions;
  /** The organisation's identity provider; null: the development sign-in page (never in production). */
  oidc: OidcSignIn | null;
  production: boolean;
  maxBodyBytes: number;
  logger: Logger;
  /** TOLLGATE_UI_SIGN_INS_PER_MINUTE sign-ins per client address (its /64 for IPv6) in any minute, on the shared limiter. */
  signIns: { limiter: RateLimiter; perMinute: number; trustedProxies: TrustedProxies };
  audit: UiAudit;
}

const MINUTE_MS = 60_000;

/** A sign-in under way must come back within this. */
const PENDING_TTL_S = 600;
const PENDING_COOKIE = "tollgate_sign_in";

/**
 * Who the browser is: GET /ui/login (the identity provider, or the development page listing the
 * demo users), POST /ui/login (development only), GET /oauth/callback (the provider's answer),
 * POST /ui/logout (revokes the session). Sign-ins are limited per client address; signing in and
 * out is audited (source "ui").
 */
export function signInRoutes({ sessions, oidc, production, maxBodyBytes, logger, signIns, audit }: SignInDeps): Router {
  const router = Router();
  const form = formBody(maxBodyBytes, logger);
  const returnToOf = (value: unknown): string => safeReturnTo(value) ?? DEFAULT_RETURN_TO;
  const devPage = !oidc && !production;

  /**
   * Counts a sign-in (the development form's POST, the identity provider's answer) against its
   * client address; past the limit a 429 page with Retry-After (RequestError rate_limited).
   */
  const admitSignIn = async (req: Request): Promise<void> => {
    const client = limitedClient(clientAddress(req, signIns.trustedProxies));
    const hit = await signIns.limiter.hit(`ui_sign_in:${client}`, signIns.perMinute, MINUTE_MS);
    if (!hit.allowed) throw new RequestError("rate_limited", `at most ${signIns.perMinute} sign-ins a minute from one address: wait, then try again`, undefined, hit.reset_ms / 1000);
  };
  /** Signs the browser in as `userId`, audited (session.sign_in), and returns it to `returnTo`. */
  const signIn = async (req: Request, res: Response, started: number, userId: string, returnTo: unknown): Promise<void> => {
    await sessions.start(req, res, userId);
    audit.recordWhenAnswered(req, res, started, "session.sign_in", { userId, target: `user:${userId}` });
    res.redirect(303, returnToOf(returnTo));
  };

  const pendingCookie = (req: Request): string => `${sessions.secure(req) ? "__Host-" : ""}${PENDING_COOKIE}`;
  const setPending = (req: Request, res: Response, value: string, maxAgeS: number): void => {
    const secure = sessions.secure(req);
    appendSetCookie(res, `${pendingCookie(req)}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`);
  };

  router.get(
    "/ui/login",
    page(logger, async (req, res) => {
      const returnTo = returnToOf(req.query.return_to);
      if (oidc) {
        const { location, pending } = await oidc.begin(returnTo);
        setPending(req, res, Buffer.from(JSON.stringify(pending)).toString("base64url"), PENDING_TTL_S);
        res.setHeader("Cache-Control", "no-store");
        return void res.redirect(303, location);
      }
      if (!devPage) throw new RequestError("not_found", "browser sign-in is not configured: set TOLLGATE_OIDC_ISSUER, TOLLGATE_OIDC_CLIENT_ID and TOLLGATE_OIDC_CLIENT_SECRET");
      const users = DEMO_USERS.map((u) => html`<li><button type="submit" name="user_id" value="${u.id}">Sign in as ${u.id}</button> <span class="muted">${u.about}</span></li>`);
      renderPage(res, {
        title: "Sign in",
        body: html`<p class="notice">Development sign-in: choose a demo user. In production, browsers sign in with the organisation's identity provider (<code>TOLLGATE_OIDC_ISSUER</code>) and this page does not exist.</p>
<form method="post" action="/ui/login">
<input type="hidden" name="return_to" value="${returnTo}">
<fieldset><legend>Demo users</legend><ul class="users">${users}</ul></fieldset>
</form>`,
      });
    }),
  );

  router.post(
    "/ui/login",
    form,
    page(logger, async (req, res) => {
      const started = performance.now();
      if (!devPage) throw new RequestError("not_found", "the development sign-in page is not served here");
      if (!fromThisSite(req)) throw new RequestError("invalid_request", "the sign-in form is not from this site");
      await admitSignIn(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const user = DEMO_USERS.find((u) => u.id === body.user_id);
      if (!user) throw new RequestError("invalid_request", "user_id: not a demo user", "user_id");
      await signIn(req, res, started, user.id, body.return_to);
    }),
  );

  router.get(
    "/oauth/callback",
    page(logger, async (req, res) => {
      const started = performance.now();
      if (!oidc) throw new RequestError("not_found", "browser sign-in with an identity provider is not configured");
      await admitSignIn(req);
      const pending = readPending(cookieValue(req, pendingCookie(req)));
      setPending(req, res, "", 0);
      const userId = await oidc.complete(req.query, pending);
      await signIn(req, res, started, userId, pending?.returnTo);
    }),
  );

  router.post(
    "/ui/logout",
    form,
    page(logger, async (req, res) => {
      const started = performance.now();
      const user = await formUser(req, sessions);
      await sessions.end(req, res);
      audit.recordWhenAnswered(req, res, started, "session.sign_out", { userId: user.userId, target: `user:${user.userId}` });
      renderPage(res, { title: "Signed out", body: html`<p role="status">You are signed out.</p><p><a href="/ui/login">Sign in again</a></p>` });
    }),
  );

  return router;
}

function readPending(value: string | null): PendingSignIn | null {
  if (value === null || value.length > 1024) return null;
  try {
    const p = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as Partial<PendingSignIn>;
    const strings = [p.state, p.nonce, p.verifier, p.returnTo].every((s) => typeof s === "string");
    return strings ? (p as PendingSignIn) : null;
  } catch {
    return null;
  }
}
