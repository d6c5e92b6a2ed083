// /ui/consent: the authorization server's interaction page. The signed-in browser user sees
// which client asks for which project's MCP server and approves (choosing allow_trigger where
// the policy lets them, and an expiry) or denies; the provider then answers the client.
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type Provider from "oidc-provider";
import type { InteractionDetails } from "oidc-provider";
import type { CachedFacts } from "../facts/cached-facts.js";
import { readBody } from "../http/json-body.js";
import type { Logger } from "../log.js";
import { SCOPE_READ, SCOPE_TRIGGER } from "../oauth/issued-tokens.js";
import { CONSENT_PATH } from "../oauth/provider.js";
import { outageCause } from "../oauth/store-outage.js";
import { projectOfResource } from "../oauth/resources.js";
import type { PolicyEngine } from "../policy/engine.js";
import { signInLocation, type BrowserSessions, type BrowserUser } from "./browser-sessions.js";
import { consentBody, consentTitle } from "./consent-html.js";
import { checkCsrf, csrfToken } from "./csrf.js";
import { fromThisSite, renderFailure } from "./forms.js";
import { escapeHtml, renderPage } from "./page.js";
import type { UiAudit } from "./ui-audit.js";

const DAY_S = 86_400;
/** How long the user may let a client keep access (the grant's, and so the refresh tokens', expiry). */
export const EXPIRY_CHOICES = [
  { seconds: DAY_S, label: "1 day" },
  { seconds: 7 * DAY_S, label: "7 days" },
  { seconds: 30 * DAY_S, label: "30 days" },
  { seconds: 90 * DAY_S, label: "90 days" },
] as const;
const DEFAULT_EXPIRY_S = 30 * DAY_S;
const FORM_MAX_BYTES = 4096;

export interface ConsentDeps {
  provider: Provider;
  sessions: BrowserSessions;
  facts: CachedFacts;
  engine: Pick<PolicyEngine, "grantViolations">;
  /** TOLLGATE_PUBLIC_URL. */
  publicUrl: string;
  logger: Logger;
  /** consent.allow and consent.deny are recorded (source "ui"). */
  audit: UiAudit;
}

/** What the interaction asks for, once checked: one existing project's MCP endpoint. */
interface Request {
  details: InteractionDetails;
  clientId: string;
  clientName: string;
  clientUri: string | null;
  redirectHost: string;
  resource: string;
  projectId: string;
  projectName: string;
  triggerRequested: boolean;
}

export function consentHandler(deps: ConsentDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { provider, sessions, facts, engine } = deps;

  const problem = (res: ServerResponse, status: number, message: string): void =>
    renderPage(res, { title: "Cannot continue", status, body: `<p>${escapeHtml(message)}</p>` });

  /** The interaction of this browser (its cookie), or null when it has none or it lapsed. An unavailable store is not a lapse: it is thrown. */
  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails | null> {
    try {
      return await provider.interactionDetails(req, res);
    } catch (err) {
      if (outageCause(err)) throw err;
      return null;
    }
  }

  async function describe(details: InteractionDetails): Promise<Request | string> {
    const clientId = details.params.client_id;
    const client = typeof clientId === "string" ? await provider.Client.find(clientId) : undefined;
    if (!client || typeof clientId !== "string") return "the application is not registered";
    const resource = details.params.resource;
    if (typeof resource !== "string") return "the application must ask for exactly one MCP server (resource)";
    const projectId = projectOfResource(deps.publicUrl, resource);
    const project = projectId ? await facts.project(projectId) : null;
    if (!projectId || !project) return "the application asks for an MCP server this Tollgate does not have";
    const redirectUri = typeof details.params.redirect_uri === "string" ? details.params.redirect_uri : "";
    const metadata = client.metadata();
    return {
      details,
      clientId,
      clientName: typeof metadata.client_name === "string" && metadata.client_name.trim() ? metadata.client_name : clientId,
      clientUri: typeof metadata.client_uri === "string" && /^https?:\/\//.test(metadata.client_uri) ? metadata.client_uri : null,
      redirectHost: hostOf(redirectUri),
      resource,
      projectId,
      projectName: project.name,
      triggerRequested: String(details.params.scope ?? "").split(" ").includes(SCOPE_TRIGGER),
    };
  }

  /** Why the user cannot approve this grant (the policy's grant rules on their roles), or null. */
  async function refusal(user: BrowserUser, projectId: string, allowTrigger: boolean): Promise<string | null> {
    const [account, role] = await Promise.all([facts.user(user.userId), facts.collaboratorRole(projectId, user.userId)]);
    const violations = engine.grantViolations({
      system_role: account?.system_role ?? "user",
      roles: { [projectId]: role },
      grants: [{ project_id: projectId, allow_trigger: allowTrigger }],
    });
    const reason = violations[0]?.reason;
    if (!reason) return null;
    if (reason === "not_collaborator") return "You do not collaborate on this project, so you cannot give access to it.";
    if (reason === "insufficient_role") return "Triggering builds needs the Developer role or above.";
    return "Tollgate could not check your access; try again later.";
  }

  async function show(res: ServerResponse, user: BrowserUser, details: InteractionDetails): Promise<void> {
    const described = await describe(details);
    if (typeof described === "string") return problem(res, 400, described);
    const notAllowed = await refusal(user, described.projectId, false);
    const offerTrigger = described.triggerRequested && !notAllowed && (await refusal(user, described.projectId, true)) === null;
    renderPage(res, {
      title: consentTitle(described),
      body: consentBody({
        uid: details.uid,
        csrf: csrfToken(user),
        clientName: described.clientName,
        clientUri: described.clientUri,
        redirectHost: described.redirectHost,
        projectId: described.projectId,
        projectName: described.projectName,
        resource: described.resource,
        offerTrigger,
        refusal: notAllowed,
        expiryChoices: EXPIRY_CHOICES,
        defaultExpiryS: DEFAULT_EXPIRY_S,
      }),
    });
  }

  /** The record of a decision: the user, the project and the client they answered. */
  const recordDecision = (req: IncomingMessage, res: ServerResponse, started: number, action: "consent.allow" | "consent.deny", user: BrowserUser, described: Request | null, details: InteractionDetails): void => {
    const clientId = typeof details.params.client_id === "string" ? details.params.client_id : "unknown";
    const target = described ? `project:${described.projectId}/oauth_client:${described.clientId}` : `oauth_client:${clientId}`;
    deps.audit.recordWhenAnswered(req, res, started, action, { userId: user.userId, target });
  };

  async function decide(req: IncomingMessage, res: ServerResponse, user: BrowserUser, details: InteractionDetails): Promise<void> {
    const started = performance.now();
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") return problem(res, 415, "send the form");
    const raw = await readBody(req, res, FORM_MAX_BYTES);
    if (!Buffer.isBuffer(raw)) return raw === "aborted" ? undefined : problem(res, 413, "the form is too large");
    const form = new URLSearchParams(raw.toString("utf8"));
    // The page's token, and (a second line, as on every form) the browser's word that the form is from this site.
    if (!checkCsrf(user, form.get("csrf")) || !fromThisSite(req)) return problem(res, 403, "the form expired or did not come from this page; go back and try again");
    if (form.get("uid") !== details.uid) return problem(res, 400, "this form belongs to another authorization request");
    const decision = form.get("decision");
    if (decision === "deny") {
      const described = await describe(details);
      recordDecision(req, res, started, "consent.deny", user, typeof described === "string" ? null : described, details);
      await provider.interactionFinished(req, res, { error: "access_denied", error_description: "the user denied access" }, { mergeWithLastSubmission: false });
      return;
    }
    if (decision !== "allow") return problem(res, 400, "choose Allow or Deny");
    const described = await describe(details);
    if (typeof described === "string") return problem(res, 400, described);
    const allowTrigger = form.get("allow_trigger") === "true";
    if (allowTrigger && !described.triggerRequested) return problem(res, 400, "the application did not ask to trigger builds");
    const notAllowed = await refusal(user, described.projectId, allowTrigger);
    if (notAllowed) return problem(res, 403, notAllowed);
    const expiresIn = Number(form.get("expires_in"));
    if (!EXPIRY_CHOICES.some((c) => c.seconds === expiresIn)) return problem(res, 400, "choose how long access lasts");

    const grant = new provider.Grant({ accountId: user.userId, clientId: described.clientId, expiresIn });
    const scope = allowTrigger ? `${SCOPE_READ} ${SCOPE_TRIGGER}` : SCOPE_READ;
    // The provider counts the mcp:* scopes as its own as well as the resource's: granted as both.
    grant.addOIDCScope(scope);
    grant.addResourceScope(described.resource, scope);
    if (described.triggerRequested && !allowTrigger) {
      // Asked for and not given: answered, so the provider does not ask again.
      grant.rejectOIDCScope(SCOPE_TRIGGER);
      grant.rejectResourceScope(described.resource, SCOPE_TRIGGER);
    }
    const grantId = await grant.save();
    recordDecision(req, res, started, "consent.allow", user, described, details);
    await provider.interactionFinished(req, res, { login: { accountId: user.userId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }

  /** A store or fact the page needs is unavailable: a 503 page with Retry-After, logged once; nothing is decided. */
  return async (req, res) => {
    try {
      await handle(req, res);
    } catch (err) {
      const cause = outageCause(err);
      if (!cause) throw err;
      renderFailure(res, cause, deps.logger, { method: req.method, path: CONSENT_PATH });
    }
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const uid = new URL(req.url ?? "/", "http://x").searchParams.get("uid");
    const user = await sessions.current(req);
    if (!user) {
      if (req.method !== "GET" && req.method !== "HEAD") return problem(res, 403, "sign in first");
      res.writeHead(303, { location: signInLocation(uid ? `/ui/consent?uid=${encodeURIComponent(uid)}` : "/ui/consent"), "cache-control": "no-store" });
      res.end();
      return;
    }
    const details = await interaction(req, res);
    if (!details || (uid !== null && uid !== details.uid)) return problem(res, 400, "this authorization request is unknown or has expired; start again from the application");
    if (req.method === "GET" || req.method === "HEAD") return show(res, user, details);
    return decide(req, res, user, details); // POST: the only other method routed here
  }
}

function hostOf(uri: string): string {
  try {
    return new URL(uri).host || uri;
  } catch {
    return uri;
  }
}
