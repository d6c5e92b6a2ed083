import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type Request, type RequestHandler, type Response } from "express";
import { replyFor } from "../api/error-writer.js";
import { ERRORS, RequestError } from "../errors.js";
import type { Logger } from "../log.js";
import type { BrowserSessions, BrowserUser } from "./browser-sessions.js";
import { checkCsrf, CSRF_FIELD, csrfToken } from "./csrf.js";
import { html, renderPage, type Html } from "./page.js";

/** The hidden field that carries the session's CSRF token in every POST form. */
export function csrfInput(user: BrowserUser): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrfToken(user)}">`;
}

/**
 * The browser says the request comes from a page of this origin, or says nothing (an old
 * browser): Sec-Fetch-Site, else Origin against Host. A second line behind the CSRF token,
 * and the only one for the sign-in form (there is no session yet).
 */
export function fromThisSite(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) return site === "same-origin" || site === "none";
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** The form's user: a session, a POST from this site, with the session's CSRF token. Throws RequestError otherwise. */
export async function formUser(req: Request, sessions: BrowserSessions): Promise<BrowserUser> {
  const user = await sessions.current(req);
  if (!user) throw new RequestError("missing_token", "you are signed out: sign in again, then repeat what you did");
  if (!fromThisSite(req) || !checkCsrf(user, (req.body as Record<string, unknown> | undefined)?.[CSRF_FIELD])) {
    throw new RequestError("invalid_request", "the form is stale or not from this site: reload the page and try again", CSRF_FIELD);
  }
  return user;
}

/** A page's failure as a page: the catalogue's status and message (details of the unknown only in the log). */
export function renderFailure(res: ServerResponse, err: unknown, logger: Logger, where: { method?: string; path: string }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const reply = replyFor(err);
  if (!reply || reply.code === "backend_unavailable") logger.error({ err: String(err), ...where }, "page failed");
  const code = reply?.code ?? "internal_error";
  const message = reply?.message ?? ERRORS[code].message;
  if (reply?.retryAfterS !== undefined) res.setHeader("Retry-After", String(Math.max(1, Math.ceil(reply.retryAfterS))));
  const signIn = code === "missing_token" ? html`<p><a href="/ui/login">Sign in</a></p>` : null;
  renderPage(res, {
    title: ERRORS[code].status >= 500 ? "Something went wrong" : "That did not work",
    status: ERRORS[code].status,
    body: html`<p class="error" role="alert">${message}</p>${signIn}<p><a href="/ui/tokens">Back to your tokens</a></p>`,
  });
}

/** An async page handler whose failures become pages. */
export function page(logger: Logger, handler: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res) => {
    handler(req, res).catch((err: unknown) => renderFailure(res, err, logger, { method: req.method, path: req.path }));
  };
}

/** The form body (application/x-www-form-urlencoded, bounded); a body that cannot be read is answered as a page. */
export function formBody(maxBodyBytes: number, logger: Logger): RequestHandler {
  const parse = express.urlencoded({ extended: false, limit: maxBodyBytes, parameterLimit: 20 });
  return (req, res, next) =>
    parse(req, res, (err?: unknown) => {
      if (err === undefined) return next();
      const tooLarge = (err as { type?: unknown }).type === "entity.too.large";
      renderFailure(res, tooLarge ? new RequestError("body_too_large") : new RequestError("invalid_request", "the form cannot be read"), logger, { method: req.method, path: req.path });
    });
}
