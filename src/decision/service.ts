import { randomUUID } from "node:crypto";
import type { AuditCounters, AuditSink, AuditSource } from "../audit/types.js";
import { auditMcp, type ArgumentsRecording, type McpMessageFacts } from "../audit/mcp.js";
import { auditRecordFromDecision } from "../audit/record.js";
import type { Logger } from "../log.js";
import type { RateLimits } from "../config/config.js";
import type { CredentialResolver, Credential } from "../auth/credentials.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import { isUnavailable } from "../errors.js";
import { LogThrottle } from "../log-throttle.js";
import type { PolicyEngine } from "../policy/engine.js";
import type { CollaboratorRole, McpCall, Namespace, PolicyDecision, PolicyInput, ProjectFact, RateLimitClass, RouteInfo, SubjectFact } from "../policy/types.js";
import type { McpSessionState, McpSessionStore, RateLimiter, RateLimitResult } from "../stores/types.js";
import { isSessionId, sessionBinding, type SessionOwner } from "../mcp/sessions.js";
import { inSpan, inSpanSync } from "../tracing.js";
import { identityHeaders, type IdentityHeaders } from "./identity.js";

/** One request to judge, as an adapter read it. */
export interface DecisionRequest {
  /** Which endpoint asked: the audit record's source. */
  source: AuditSource;
  method: string;
  /** Request target as received (path and optional query). */
  path: string;
  authorization: string | null;
  /** The asking client (clientAddress(), after TOLLGATE_TRUSTED_PROXIES): for the audit record. */
  clientAddress: string;
  /** The request's User-Agent header, for the audit record; absent → null. */
  userAgent?: string | null;
  /** Evaluate without consuming rate limit. */
  dryRun?: boolean;
  /** The JSON-RPC message, on a route whose body is one (RouteInfo.mcp_message). */
  mcp?: McpCall;
  /** The Mcp-Session-Id presented, on a route that checks sessions (RouteInfo.mcp_endpoint; the gateway only). */
  mcpSession?: string;
  /** For the audit record of an MCP message: its id, the session header and its arguments. */
  mcpMessage?: McpMessageFacts;
  /**
   * What this service's route() found for this method and path (the gateway asks first, to know
   * whether the body is an MCP message): used instead of a second lookup when it is for the same
   * method, path and policy revision, and only one route() made (a copy is looked up again). Never
   * from a client: the route is always Tollgate's own finding.
   */
  route?: FoundRoute;
}

/** Routes DecisionService.route() handed out: a copy or any other object is not taken for one. */
const issued = new WeakSet<FoundRoute>();

/** A route found by DecisionService.route(), and for what. */
export interface FoundRoute {
  readonly method: string;
  readonly path: string;
  readonly revision: string;
  readonly info: RouteInfo;
}

/** What the audit record of a request refused before its decision holds of it. */
export type RefusedRequest = Pick<DecisionRequest, "source" | "method" | "path" | "clientAddress" | "userAgent" | "mcp" | "mcpMessage">;

export interface SubjectSummary {
  type: SubjectFact["type"];
  user_id: string | null;
  token_id: string | null;
  project_id: string | null;
}

export interface RateLimitSummary {
  class: RateLimitClass;
  limit: number;
  remaining: number;
  reset_s: number;
}

/** The decision as the API returns it: the policy's answer plus who asked and the limit state. */
export interface Decision {
  allow: boolean;
  status: number;
  reasons: string[];
  access: "read" | "write" | null;
  route: string | null;
  subject: SubjectSummary | null;
  /** An MCP token's projects with a live grant (unexpired, the user still a collaborator), sorted; null for other callers. */
  granted_projects: string[] | null;
  rate_limit: RateLimitSummary | null;
  decision_id: string;
  policy_revision: string;
}

/** Everything an adapter sends for one decision: the decision, and on allow who the caller is. */
export interface Verdict {
  decision: Decision;
  subject: SubjectFact | null;
  /** The policy's area of the API for this route (null when no route matched). */
  namespace: Namespace | null;
  /** What forward auth answers a proxy with and the gateway tells its upstream, built once. */
  identity: IdentityHeaders;
  /** Allowed tools/list or GET of a project's MCP endpoint: the tools the caller may see (the policy's mcp_tools); null otherwise. */
  mcpTools: string[] | null;
  /** Allowed on a route that checks sessions: whom a session the upstream opens belongs to (null: nobody can hold one). */
  sessionOwner: SessionOwner | null;
}

/**
 * A verdict whose audit record waits for the end of the request (the gateway: what answered
 * the allowed request is known only then). settle() writes the record, once.
 */
export interface PendingVerdict {
  verdict: Verdict;
  /** upstreamStatus: the upstream's (or a local route's) status; null when none answered. */
  settle(upstreamStatus: number | null): void;
}

export interface DecisionObserver {
  decided(decision: Decision, seconds: number): void;
  rateLimitFailOpen(): void;
}

export interface DecisionServiceOptions {
  engine: PolicyEngine;
  credentials: CredentialResolver;
  facts: CachedFacts;
  /** Checks an MCP session in the same call as the hit (RateLimitOptions.session) in `mcpSessions`. */
  rateLimiter: RateLimiter;
  /** Where MCP sessions are bound, checked outside a hit and ended. */
  mcpSessions: McpSessionStore;
  /** TOLLGATE_MCP_SESSION_TTL_MS. */
  mcpSessionTtlMs: number;
  rateLimits: RateLimits;
  rateLimitWindowMs: number;
  rateLimitFail: "open" | "closed";
  audit: AuditSink;
  /** A record the sink threw on is counted here as dropped ("write_failed"). */
  auditCounters?: AuditCounters;
  /** TOLLGATE_AUDIT_MCP_ARGUMENTS=true: MCP messages' arguments are recorded, redacted; absent or null: never. */
  auditMcpArguments?: ArgumentsRecording | null;
  logger: Logger;
  observer?: DecisionObserver;
  clock?: () => number;
}

interface Judged {
  decision: Decision;
  subject: SubjectFact | null;
  namespace: Namespace | null;
  triggerAllowed: boolean;
  mcpTools: string[] | null;
  sessionOwner?: SessionOwner | null;
}

/**
 * The framework-free core, one straight line per request: route → credential → facts → policy →
 * rate limit → verdict → audit record. HTTP adapters (the decision endpoints, the gateway) only
 * read the request and write the verdict. Decisions fail closed; the audit record is written
 * here, best-effort: a failed write is counted and never changes a decision.
 */
export class DecisionService {
  readonly #logs = new LogThrottle();
  readonly #clock: () => number;

  constructor(private readonly o: DecisionServiceOptions) {
    this.#clock = o.clock ?? (() => Date.now() / 1000);
  }

  /** What a request names, from method and path alone (cached): whether its body is an MCP message. Pass it on in DecisionRequest.route. */
  route(method: string, path: string): FoundRoute {
    const { engine } = this.o;
    const found: FoundRoute = Object.freeze({ method, path, revision: engine.revision, info: engine.route(method, path) });
    issued.add(found);
    return found;
  }

  /** Decides and writes the audit record now (the decision endpoints). */
  async decide(request: DecisionRequest): Promise<Verdict> {
    const pending = await this.begin(request);
    pending.settle(null);
    return pending.verdict;
  }

  /** Decides; the audit record is written when settle() is called (the gateway). */
  async begin(request: DecisionRequest): Promise<PendingVerdict> {
    const started = process.hrtime.bigint();
    const time = new Date();
    const judged = await this.#judge(request);
    this.o.observer?.decided(judged.decision, Number(process.hrtime.bigint() - started) / 1e9);
    const verdict: Verdict = {
      decision: judged.decision,
      subject: judged.subject,
      namespace: judged.namespace,
      identity: identityHeaders(judged.decision, judged.triggerAllowed),
      mcpTools: judged.mcpTools,
      sessionOwner: judged.sessionOwner ?? null,
    };
    let settled = false;
    return {
      verdict,
      settle: (upstreamStatus) => {
        if (settled) return;
        settled = true;
        const latency_ms = Number(process.hrtime.bigint() - started) / 1e6;
        this.#audit(judged.decision, request, time, latency_ms, upstreamStatus);
      },
    };
  }

  /**
   * The audit record of a request refused before it could be decided (e.g. two Authorization
   * fields, too many header fields; an MCP message that is not one JSON-RPC message, or whose
   * headers disagree with it): no subject, nothing charged, the refusal's status and error
   * code, and the route when the caller found it (the MCP endpoint's).
   */
  refused(request: RefusedRequest, status: number, reason: string, route: string | null = null): void {
    const decision: Decision = {
      allow: false,
      status,
      reasons: [reason],
      access: null,
      route,
      subject: null,
      granted_projects: null,
      rate_limit: null,
      decision_id: randomUUID(),
      policy_revision: this.o.engine.revision,
    };
    this.#audit(decision, request, new Date(), 0, null);
  }

  #audit(decision: Decision, request: RefusedRequest, time: Date, latency_ms: number, upstream_status: number | null): void {
    try {
      this.o.audit.record(
        auditRecordFromDecision(decision, {
          source: request.source,
          method: request.method,
          path: request.path,
          time,
          latency_ms,
          upstream_status,
          client_address: request.clientAddress,
          user_agent: request.userAgent ?? null,
          mcp: request.mcp ? auditMcp(request.mcp, request.mcpMessage, this.o.auditMcpArguments ?? null) : null,
        }),
      );
    } catch (err) {
      // The sink promises not to throw; if one does, the decision stands and the loss is counted.
      this.o.auditCounters?.dropped(1, "write_failed");
      const line = this.#logs.take("audit");
      if (line) this.o.logger.error({ err: String(err), held_back: line.held }, "audit record could not be written; the decision stands");
    }
  }

  async #judge(request: DecisionRequest): Promise<Judged> {
    const { engine } = this.o;
    const decisionId = randomUUID();
    const revision = engine.revision;
    // The route is found from the method and path, here or by route() just before (the gateway's): no client can name one.
    const found = request.route;
    const route: RouteInfo =
      found !== undefined && issued.has(found) && found.revision === revision && found.method === request.method && found.path === request.path ? found.info : engine.route(request.method, request.path);
    let credential: Credential = { status: "none" };
    const input: PolicyInput = { method: request.method, path: request.path, now: this.#clock(), credential: { status: "none" } };
    if (request.mcp) input.mcp = request.mcp;

    // Facts are gathered only when the route exists: an invalid path or unknown route is
    // denied by the policy without touching any backend.
    if (route.valid_path && route.pattern !== null) {
      try {
        credential = await inSpan("tollgate.credential", () => this.o.credentials.resolve(request.authorization));
        input.credential = { status: credential.status };
        if (credential.status === "valid") input.subject = credential.subject;
        // A bad credential is denied at the credential stage whatever the project: no lookup.
        const credentialDecides = credential.status !== "valid" && credential.status !== "none";
        const [project, grantRoles] = await inSpan("tollgate.facts", () =>
          Promise.all([
            route.project_id !== null && !credentialDecides ? this.#projectFact(route.project_id, input.subject) : undefined,
            input.subject?.type === "mcp_token" ? this.#grantRoles(input.subject) : undefined,
          ]),
        );
        if (project) input.project = project;
        if (grantRoles) input.grant_roles = grantRoles;
      } catch (err) {
        return this.#unavailable(err, decisionId, revision, route.access, route.pattern, credential, route.namespace);
      }
    }

    let verdict = inSpanSync("tollgate.policy", () => engine.decide(input));
    let rateLimit: RateLimitSummary | null = null;
    // Who holds sessions on this request: the caller's binding, kept under its rate-limit key.
    const owner: SessionOwner | null =
      route.mcp_endpoint && input.subject && verdict.rate_limit_key !== null ? { partition: verdict.rate_limit_key, binding_id: sessionBinding(input.subject) } : null;
    const presented = route.mcp_endpoint ? request.mcpSession : undefined;
    const sessionRef = presented !== undefined && owner && isSessionId(presented) ? { session_id: presented, ...owner, ttl_ms: this.o.mcpSessionTtlMs } : undefined;
    /** Whether the presented session is the caller's, once looked up (input.mcp_session). */
    let session: McpSessionState | undefined = presented !== undefined && !sessionRef ? "unknown" : undefined;
    let exceeded = false;
    if (verdict.rate_limit_applies && verdict.rate_limit_key !== null && verdict.rate_limit_class !== null) {
      const area = route.namespace === "mcp" ? "mcp" : "api";
      const limits = this.o.rateLimits[area];
      // A class named by a policy loaded after start-up that has no limit: nothing to count against.
      if (!Object.hasOwn(limits, verdict.rate_limit_class)) {
        const line = this.#logs.take(`unknown_class:${verdict.rate_limit_class}`);
        if (line) this.o.logger.error({ class: verdict.rate_limit_class, area, revision, held_back: line.held }, "the policy names a rate-limit class without a limit in TOLLGATE_RATE_LIMITS; denying");
        return { decision: policyError(verdict, credential, decisionId, revision), subject: null, triggerAllowed: false, namespace: route.namespace, mcpTools: null };
      }
      const limit = limits[verdict.rate_limit_class]!;
      let result: RateLimitResult | null;
      try {
        // The caller's part in braces: on a Redis Cluster its counters and sessions share a hash slot.
        const key = area === "mcp" ? `mcp:${verdict.rate_limit_class}:{${verdict.rate_limit_key}}` : `${area}:${verdict.rate_limit_class}:${verdict.rate_limit_key}`;
        const options = { consume: !request.dryRun, ...(sessionRef && { session: sessionRef }) };
        result = await inSpan("tollgate.rate_limit", () => this.o.rateLimiter.hit(key, limit, this.o.rateLimitWindowMs, options));
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        // A session that cannot be checked is not let through, whatever TOLLGATE_RATE_LIMIT_FAIL says.
        if (this.o.rateLimitFail === "closed" || sessionRef) {
          return this.#unavailable(err, decisionId, revision, verdict.access, verdict.route, credential, route.namespace);
        }
        this.#failOpen(err);
        result = null;
      }
      if (result) {
        rateLimit = { class: verdict.rate_limit_class, limit: result.limit, remaining: result.remaining, reset_s: Math.ceil(result.reset_ms / 1000) };
        exceeded = !result.allowed;
        if (sessionRef) session = result.session ?? "unknown";
      }
    } else if (sessionRef && verdict.allow) {
      try {
        session = await inSpan("tollgate.mcp_session", () => this.o.mcpSessions.check(sessionRef));
      } catch (err) {
        return this.#unavailable(err, decisionId, revision, verdict.access, verdict.route, credential, route.namespace);
      }
    }
    // What the first evaluation could not know yet: the policy decides again with it.
    if (exceeded || (session !== undefined && session !== "bound")) {
      verdict = engine.decide({
        ...input,
        ...(exceeded && { rate_limit: { exceeded: true } }),
        ...(session !== undefined && { mcp_session: { bound_to_caller: session === "bound" } }),
      });
    }
    return {
      decision: present(verdict, credential, rateLimit, decisionId, revision),
      subject: input.subject ?? null,
      triggerAllowed: verdict.allow && verdict.trigger_allowed,
      namespace: route.namespace,
      mcpTools: verdict.allow ? verdict.mcp_tools : null,
      sessionOwner: verdict.allow ? owner : null,
    };
  }

  /** Binds a session the upstream opened on an allowed request to the caller (before the client learns its id). */
  async bindSession(owner: SessionOwner, sessionId: string): Promise<void> {
    if (!isSessionId(sessionId)) return; // not one a client could present back: nothing to bind
    await this.o.mcpSessions.bind({ session_id: sessionId, ...owner, ttl_ms: this.o.mcpSessionTtlMs });
  }

  /** Forgets a session the upstream ended at its owner's request (DELETE). */
  async endSession(owner: SessionOwner, sessionId: string): Promise<void> {
    if (!isSessionId(sessionId)) return;
    await this.o.mcpSessions.end({ session_id: sessionId, ...owner, ttl_ms: this.o.mcpSessionTtlMs });
  }

  async #projectFact(projectId: string, subject: SubjectFact | undefined): Promise<ProjectFact> {
    const userId = subject && subject.type !== "project_token" ? subject.user_id : null;
    const [project, role] = await Promise.all([
      this.o.facts.project(projectId),
      userId ? this.o.facts.collaboratorRole(projectId, userId) : Promise.resolve(null),
    ]);
    return { id: projectId, public: project?.public === true, collaborator_role: project ? role : null };
  }

  /** The user's role in every project the MCP token's grants name: one batched, cached read. */
  async #grantRoles(subject: Extract<SubjectFact, { type: "mcp_token" }>): Promise<Record<string, CollaboratorRole | null>> {
    const roles = await this.o.facts.collaboratorRoles(subject.grants.map((g) => g.project_id), subject.user_id);
    return Object.fromEntries(roles);
  }

  #failOpen(err: unknown): void {
    this.o.observer?.rateLimitFailOpen();
    const line = this.#logs.take("fail_open");
    if (line) this.o.logger.warn({ err: String(err), held_back: line.held }, "rate limiter unavailable; admitting requests (TOLLGATE_RATE_LIMIT_FAIL=open)");
  }

  #unavailable(err: unknown, decisionId: string, revision: string, access: Decision["access"], route: string | null, credential: Credential, namespace: Namespace | null): Judged {
    if (!isUnavailable(err)) throw err;
    const line = this.#logs.take(`unavailable:${err.backend}`);
    if (line) this.o.logger.error({ err: String(err), backend: err.backend, decision_id: decisionId, held_back: line.held }, "a backend needed for the decision is unavailable; denying");
    const decision: Decision = {
      allow: false,
      status: 503,
      reasons: ["backend_unavailable"],
      access,
      route,
      subject: summarize(credential),
      granted_projects: null,
      rate_limit: null,
      decision_id: decisionId,
      policy_revision: revision,
    };
    return { decision, subject: null, triggerAllowed: false, namespace, mcpTools: null };
  }
}

function present(verdict: PolicyDecision, credential: Credential, rateLimit: RateLimitSummary | null, decisionId: string, revision: string): Decision {
  return {
    allow: verdict.allow,
    status: verdict.status,
    reasons: verdict.reasons,
    access: verdict.access,
    route: verdict.route,
    subject: summarize(credential),
    granted_projects: verdict.granted_projects,
    rate_limit: rateLimit,
    decision_id: decisionId,
    policy_revision: revision,
  };
}

function policyError(verdict: PolicyDecision, credential: Credential, decisionId: string, revision: string): Decision {
  return { ...present(verdict, credential, null, decisionId, revision), allow: false, status: 500, reasons: ["policy_error"] };
}

function summarize(credential: Credential): SubjectSummary | null {
  if (credential.status !== "valid") return null;
  const s = credential.subject;
  return {
    type: s.type,
    user_id: s.type === "project_token" ? null : s.user_id,
    token_id: s.type === "user" ? null : s.token_id,
    project_id: s.type === "project_token" ? s.project_id : null,
  };
}
