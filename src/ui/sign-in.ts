import { Router, type Request, type Response } from "express";
import { RequestError } from "../errors.js";
import type { Logger } from "../log.js";
import { DEMO_USERS } from "../server/demo.js";
import { appendSetCookie, cookieValue, DEFAULT_RETURN_TO, safeReturnTo, type StoredBrowserSessions } from "./browser-sessions.js";
import { formBody, formUser, fromThisSite, page } from "./forms.js";
import type { OidcSignIn, PendingSignIn } from "./oidc.js";
import { html, renderPage } from "./page.js";

export interface SignInDeps {
  sessions: StoredBrowserSessions;
  /** The organisation's identity provider; null: the development sign-in page (never in production). */
  oidc: OidcSignIn | null;
  production: boolean;
  maxBodyBytes: number;
  logger: Logger;
}

/** A sign-in under way must come back within this. */
const PENDING_TTL_S = 600;
const PENDING_COOKIE = "tollgate_sign_in";

/**
 * Who the browser is: GET /ui/login (the identity provider, or the development page listing the
 * demo users), POST /ui/login (development only), GET /oauth/callback (the provider's answer),
 * POST /ui/logout (revokes the session).
 */
export function signInRoutes({ sessions, oidc, production, maxBodyBytes, logger }: SignInDeps): Router {
  const router = Router();
  const form = formBody(maxBodyBytes, logger);
  const returnToOf = (value: unknown): string => safeReturnTo(value) ?? DEFAULT_RETURN_TO;
  const devPage = !oidc && !production;

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
      if (!devPage) throw new RequestError("not_found", "the development sign-in page is not served here");
      if (!fromThisSite(req)) throw new RequestError("invalid_request", "the sign-in form is not from this site");
      const body = (req.body ?? {}) as Record<string, unknown>;
      const user = DEMO_USERS.find((u) => u.id === body.user_id);
      if (!user) throw new RequestError("invalid_request", "user_id: not a demo user", "user_id");
      await sessions.start(req, res, user.id);
      res.redirect(303, returnToOf(body.return_to));
    }),
  );

  router.get(
    "/oauth/callback",
    page(logger, async (req, res) => {
      if (!oidc) throw new RequestError("not_found", "browser sign-in with an identity provider is not configured");
      const pending = readPending(cookieValue(req, pendingCookie(req)));
      setPending(req, res, "", 0);
      const userId = await oidc.complete(req.query, pending);
      await sessions.start(req, res, userId);
      res.redirect(303, returnToOf(pending?.returnTo));
    }),
  );

  router.post(
    "/ui/logout",
    form,
    page(logger, async (req, res) => {
      await formUser(req, sessions);
      await sessions.end(req, res);
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
