import { Router, type Request, type Response } from "express";
import type { AuditRecord, AuditStore } from "../audit/types.js";
import { RequestError } from "../errors.js";
import type { McpTokenService } from "../issuing/mcp-tokens.js";
import type { Logger } from "../log.js";
import type { DirectoryStore, TokenRecord } from "../stores/types.js";
import type { UpstreamConnection, UpstreamTokenStore } from "../upstreams/user-tokens.js";
import { COPY_SCRIPT_PATH } from "./assets.js";
import { signInLocation, type BrowserSessions, type BrowserUser } from "./browser-sessions.js";
import { csrfInput, formBody, formUser, page } from "./forms.js";
import { html, renderPage, type Html } from "./page.js";

export interface TokensPageDeps {
  sessions: BrowserSessions;
  /** The same service as /api/v1/mcp/tokens. */
  service: McpTokenService;
  directory: Pick<DirectoryStore, "listProjectsOf">;
  audit: AuditStore;
  /** The `oauth` upstreams (their names) and the users' connections there; null when none is configured. */
  connections: { upstreams: readonly string[]; store: Pick<UpstreamTokenStore, "listByUser"> } | null;
  maxBodyBytes: number;
  logger: Logger;
  clock?: () => Date;
}

/** The expiry choices of the create form, in days (0: never). */
const EXPIRY_DAYS = [7, 30, 90, 365, 0] as const;
/** The audit trail shown for one token: its newest records. */
const AUDIT_RECORDS_SHOWN = 50;

/**
 * The user's MCP tokens in the browser: GET /ui/tokens (list and create form), POST /ui/tokens
 * (create; the secret is shown once), POST /ui/tokens/:id/revoke, GET /ui/tokens/:id (the
 * token and its audit trail). Every form carries the session's CSRF token; every change goes
 * through McpTokenService, as the API's do. With `oauth` upstreams, the list page also shows the
 * user's connections there, whose Connect links and Disconnect forms go to the connect routes
 * (upstream-connect.ts).
 */
export function tokensPage({ sessions, service, directory, audit, connections, maxBodyBytes, logger, clock = () => new Date() }: TokensPageDeps): Router {
  const router = Router();
  const form = formBody(maxBodyBytes, logger);

  /** The signed-in user, or a redirect to sign in and come back (null). */
  const viewer = async (req: Request, res: Response): Promise<BrowserUser | null> => {
    const user = await sessions.current(req);
    if (!user) res.redirect(303, signInLocation(req.originalUrl));
    return user;
  };

  router.get("/ui", (_req, res) => res.redirect(303, "/ui/tokens"));

  router.get(
    "/ui/tokens",
    page(logger, async (req, res) => {
      const user = await viewer(req, res);
      if (!user) return;
      const [tokens, projects, connected] = await Promise.all([
        service.list(user.userId),
        directory.listProjectsOf(user.userId),
        connections ? connections.store.listByUser(user.userId) : [],
      ]);
      const services = connections && connections.upstreams.length ? servicesSection(user, connections.upstreams, connected) : null;
      renderPage(res, { title: "MCP tokens", body: html`${account(user)}${createForm(user, projects.map((p) => p.project.id))}${tokenTable(user, tokens, clock())}${services}` });
    }),
  );

  router.post(
    "/ui/tokens",
    form,
    page(logger, async (req, res) => {
      const user = await formUser(req, sessions);
      const body = req.body as Record<string, unknown>;
      const name = field(body, "name");
      const project = field(body, "project_id");
      const days = Number(field(body, "expires_in_days"));
      if (!name || name.length > 100) throw new RequestError("invalid_request", "name: 1 to 100 characters", "name");
      if (!EXPIRY_DAYS.includes(days as (typeof EXPIRY_DAYS)[number])) throw new RequestError("invalid_request", "expires_in_days: one of the offered choices", "expires_in_days");
      const grants = project ? [{ project_id: project, allow_trigger: field(body, "allow_trigger") === "true" }] : [];
      const expires_at = days === 0 ? null : new Date(clock().getTime() + days * 86_400_000);
      const { token, record } = await service.create(user.userId, { name, grants, expires_at });
      renderPage(res, {
        title: "Token created",
        status: 201,
        body: html`${account(user)}
<p class="notice" role="status">Token <strong>${record.name}</strong> created. Copy it now: it is shown only this once, and Tollgate keeps only its hash.</p>
<p><code class="secret" id="new-token">${token}</code></p>
<p><button type="button" data-copy="new-token" data-status="copy-status" hidden>Copy token</button> <span id="copy-status" role="status" aria-live="polite"></span></p>
<p><a href="/ui/tokens">Back to your tokens</a></p>
<script src="${COPY_SCRIPT_PATH}" defer></script>`,
      });
    }),
  );

  router.post(
    "/ui/tokens/:id/revoke",
    form,
    page(logger, async (req, res) => {
      const user = await formUser(req, sessions);
      await service.revoke(user.userId, String(req.params.id));
      res.redirect(303, "/ui/tokens");
    }),
  );

  router.get(
    "/ui/tokens/:id",
    page(logger, async (req, res) => {
      const user = await viewer(req, res);
      if (!user) return;
      const record = await service.get(user.userId, String(req.params.id));
      const { records } = await audit.query({ token_id: record.id, limit: AUDIT_RECORDS_SHOWN });
      renderPage(res, {
        title: `Token ${record.name}`,
        body: html`${account(user)}${tokenTable(user, [record], clock())}${auditTable(records)}<p><a href="/ui/tokens">Back to your tokens</a></p>`,
      });
    }),
  );

  return router;
}

/** One form field as a string ("" when absent or repeated). */
function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  return typeof value === "string" ? value.trim() : "";
}

function account(user: BrowserUser): Html {
  return html`<nav aria-label="Account" class="account"><p>Signed in as <strong>${user.userId}</strong>.</p>
<form method="post" action="/ui/logout">${csrfInput(user)}<button type="submit" class="secondary">Sign out</button></form></nav>`;
}

function createForm(user: BrowserUser, projects: string[]): Html {
  const options = projects.map((p) => html`<option value="${p}">${p}</option>`);
  const expiries = EXPIRY_DAYS.map((d) => html`<option value="${d}"${d === 30 ? html` selected` : ""}>${d === 0 ? "never" : `in ${d} days`}</option>`);
  return html`<section aria-labelledby="create-heading"><h2 id="create-heading">Create a token</h2>
<form method="post" action="/ui/tokens">${csrfInput(user)}
<label for="name">Name</label><input type="text" id="name" name="name" required maxlength="100" autocomplete="off">
<label for="project_id">Project it may be used on</label>
<select id="project_id" name="project_id">${projects.length ? options : html`<option value="">(you collaborate on no project)</option>`}</select>
<label class="check"><input type="checkbox" id="allow_trigger" name="allow_trigger" value="true"> Allow trigger tools (Developer or above)</label>
<label for="expires_in_days">Expires</label><select id="expires_in_days" name="expires_in_days">${expiries}</select>
<div><button type="submit">Create token</button></div>
</form></section>`;
}

const day = (d: Date | null, none: string): string => (d ? d.toISOString().replace("T", " ").slice(0, 16) + " UTC" : none);

/**
 * When access ends: a token made by hand, at its expiry; an OAuth grant, at the expiry the user
 * chose on the consent page (its access tokens are short-lived and renewed by the client).
 */
function expiryOf(record: TokenRecord): Date | null {
  return record.oauth ? (record.grants[0]?.expires_at ?? null) : record.expires_at;
}

function state(record: TokenRecord, now: Date): string {
  if (record.revoked_at) return `revoked ${day(record.revoked_at, "")}`;
  const expiry = expiryOf(record);
  if (expiry && expiry <= now) return "expired";
  return "active";
}

/** Who holds the token: "made by hand", or the OAuth client's name and its URL (client_uri, or a client_id that is a URL). */
function clientCell(record: TokenRecord): Html {
  if (!record.oauth) return html`made by hand`;
  const { client_id, client_name, client_uri } = record.oauth;
  const url = client_uri ?? (/^https:\/\//.test(client_id) ? client_id : null);
  return html`<div>${client_name ?? "unnamed client"}</div>${url ? html`<div class="muted"><a href="${url}" rel="noreferrer">${url}</a></div>` : null}`;
}

function tokenTable(user: BrowserUser, tokens: TokenRecord[], now: Date): Html {
  if (tokens.length === 0) return html`<section aria-labelledby="tokens-heading"><h2 id="tokens-heading">Your tokens</h2><p>You have no MCP tokens yet.</p></section>`;
  const rows = tokens.map((t) => {
    const grants = t.grants.length ? t.grants.map((g) => html`<div>${g.project_id}${g.allow_trigger ? " (trigger)" : ""}</div>`) : "none";
    const live = state(t, now) === "active";
    const revoke = live
      ? html`<form class="inline" method="post" action="/ui/tokens/${encodeURIComponent(t.id)}/revoke">${csrfInput(user)}<button type="submit" class="danger" aria-label="Revoke ${t.name}">Revoke</button></form>`
      : null;
    return html`<tr><th scope="row"><a href="/ui/tokens/${encodeURIComponent(t.id)}">${t.name}</a></th><td>${clientCell(t)}</td><td>${grants}</td><td>${day(t.created_at, "")}</td><td>${day(expiryOf(t), "never")}</td><td>${day(t.last_used_at, "never")}</td><td>${state(t, now)}</td><td>${revoke}</td></tr>`;
  });
  return html`<section aria-labelledby="tokens-heading"><h2 id="tokens-heading">Your tokens</h2>
<table><thead><tr><th scope="col">Name</th><th scope="col">Client</th><th scope="col">Grants</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${rows}</tbody></table></section>`;
}

/**
 * Each `oauth` upstream, by name, and whether the user is connected there: Connect (the connect route, for
 * this user) or Disconnect (a form of this session; it revokes the upstream tokens and deletes them).
 */
function servicesSection(user: BrowserUser, upstreams: readonly string[], connected: UpstreamConnection[]): Html {
  const byName = new Map(connected.map((c) => [c.upstream, c.tokens]));
  const rows = [...upstreams].sort().map((name) => {
    const tokens = byName.get(name);
    const path = `/oauth/upstream/${encodeURIComponent(name)}`;
    const [state, action] = tokens
      ? [
          tokens.connectedAt === undefined ? "connected" : `connected since ${day(new Date(tokens.connectedAt), "")}`,
          html`<form class="inline" method="post" action="${path}/disconnect">${csrfInput(user)}<button type="submit" class="danger" aria-label="Disconnect ${name}">Disconnect</button></form>`,
        ]
      : ["not connected", html`<a href="${path}/connect?user=${encodeURIComponent(user.userId)}" aria-label="Connect ${name}">Connect</a>`];
    return html`<tr><th scope="row">${name}</th><td>${state}</td><td>${action}</td></tr>`;
  });
  return html`<section aria-labelledby="services-heading"><h2 id="services-heading">Connected services</h2>
<p class="muted">Services Tollgate reaches as you, with your own account there. Disconnecting revokes Tollgate's access to your account there; revoking an MCP token above does not.</p>
<table><thead><tr><th scope="col">Service</th><th scope="col">State</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${rows}</tbody></table></section>`;
}

function auditTable(records: AuditRecord[]): Html {
  const body = records.length
    ? html`<table><thead><tr><th scope="col">Time</th><th scope="col">Request</th><th scope="col">Decision</th><th scope="col">Reasons</th></tr></thead><tbody>${records.map(
        (r) => html`<tr><td>${r.time.toISOString()}</td><td>${r.method} ${r.path}</td><td>${r.allow ? "allowed" : "denied"} (${r.status})</td><td>${r.reasons.join(", ")}</td></tr>`,
      )}</tbody></table>`
    : html`<p>No requests with this token yet.</p>`;
  return html`<section aria-labelledby="audit-heading"><h2 id="audit-heading">Audit trail</h2><p class="muted">The newest ${AUDIT_RECORDS_SHOWN} requests made with this token.</p>${body}</section>`;
}
