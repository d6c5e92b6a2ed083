import { Router, type Request, type Response } from "express";
import type { UpstreamConfig } from "../config/upstreams.js";
import { RequestError } from "../errors.js";
import type { Logger } from "../log.js";
import type { PendingConnect, UpstreamConnector } from "../upstreams/connect.js";
import { appendSetCookie, cookieValue, signInLocation, type StoredBrowserSessions } from "./browser-sessions.js";
import { formBody, formUser, page } from "./forms.js";
import { html, renderPage } from "./page.js";

export interface UpstreamConnectDeps {
  sessions: StoredBrowserSessions;
  connector: UpstreamConnector;
  /** The `oauth` upstreams of TOLLGATE_UPSTREAMS. */
  upstreams: readonly UpstreamConfig[];
  maxBodyBytes: number;
  logger: Logger;
}

/** The connection under way must come back within this. */
const PENDING_TTL_S = 600;
const PENDING_COOKIE = "tollgate_upstream_connect";

/**
 * A user connects an `oauth` upstream from the browser (docs/upstreams.md, "Connecting"):
 * GET /oauth/upstream/{name}/connect (signed in, as the user the link was made for) sends the
 * browser to the upstream's authorization server; GET /oauth/upstream/{name}/callback takes its
 * answer; POST /oauth/upstream/{name}/disconnect (a form of the user's session, CSRF-checked)
 * revokes and deletes the user's upstream tokens.
 */
export function upstreamConnectRoutes({ sessions, connector, upstreams, maxBodyBytes, logger }: UpstreamConnectDeps): Router {
  const router = Router();
  const form = formBody(maxBodyBytes, logger);
  const byName = new Map(upstreams.filter((u) => u.auth === "oauth").map((u) => [u.name, u]));
  const upstreamOf = (req: Request): UpstreamConfig => {
    const upstream = byName.get(String(req.params.name));
    if (!upstream) throw new RequestError("not_found", "no such upstream: only an upstream with auth \"oauth\" can be connected");
    return upstream;
  };
  const cookieName = (req: Request): string => `${sessions.secure(req) ? "__Host-" : ""}${PENDING_COOKIE}`;
  const setPending = (req: Request, res: Response, value: string, maxAgeS: number): void => {
    const secure = sessions.secure(req);
    appendSetCookie(res, `${cookieName(req)}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`);
  };

  router.get(
    "/oauth/upstream/:name/connect",
    page(logger, async (req, res) => {
      const upstream = upstreamOf(req);
      res.setHeader("Cache-Control", "no-store");
      const user = await sessions.current(req);
      if (!user) return void res.redirect(303, signInLocation(req.originalUrl));
      // The link names the user it was made for (upstreamConnectUrl): another user's browser must not connect their account under it.
      if (req.query.user !== user.userId) {
        throw new RequestError("invalid_request", "this link was made for another user: sign in as the user whose MCP client asked for it, then open the link again", "user");
      }
      const { location, pending } = await connector.begin(upstream, user);
      setPending(req, res, Buffer.from(JSON.stringify(pending)).toString("base64url"), PENDING_TTL_S);
      res.redirect(303, location);
    }),
  );

  router.get(
    "/oauth/upstream/:name/callback",
    page(logger, async (req, res) => {
      const upstream = upstreamOf(req);
      res.setHeader("Cache-Control", "no-store");
      const pending = readPending(cookieValue(req, cookieName(req)));
      setPending(req, res, "", 0);
      const user = await sessions.current(req);
      if (!user) throw new RequestError("missing_token", "you are signed out: sign in, then open the connect link again");
      await connector.complete(upstream, user, req.query, pending);
      logger.info({ upstream: upstream.name, user: user.userId }, "upstream connected");
      renderPage(res, {
        title: `Connected ${upstream.name}`,
        body: html`<p role="status">Your account at <strong>${upstream.name}</strong> is connected. Return to your MCP client and repeat what you asked; it now works through Tollgate.</p>
<p><a href="/ui/tokens">Your tokens</a></p>`,
      });
    }),
  );

  router.post(
    "/oauth/upstream/:name/disconnect",
    form,
    page(logger, async (req, res) => {
      const upstream = upstreamOf(req);
      const user = await formUser(req, sessions);
      const had = await connector.disconnect(upstream, user.userId);
      if (had) logger.info({ upstream: upstream.name, user: user.userId }, "upstream disconnected");
      renderPage(res, {
        title: `Disconnected ${upstream.name}`,
        body: html`<p role="status">${had ? "Your upstream tokens were revoked and deleted." : "You were not connected."} Tollgate no longer reaches <strong>${upstream.name}</strong> as you until you connect again.</p>
<p><a href="/ui/tokens">Your tokens</a></p>`,
      });
    }),
  );

  return router;
}

function readPending(value: string | null): PendingConnect | null {
  if (value === null || value.length > 2048) return null;
  try {
    const p = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as Partial<PendingConnect>;
    return [p.upstream, p.userId, p.state, p.verifier, p.issuer].every((s) => typeof s === "string") ? (p as PendingConnect) : null;
  } catch {
    return null;
  }
}
