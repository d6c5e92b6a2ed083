import { randomUUID } from "node:crypto";
import type { Logger } from "../log.js";
import type { RateLimits } from "../config/config.js";
import type { CredentialResolver, Credential } from "../auth/credentials.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import { isUnavailable } from "../errors.js";
import { LogThrottle } from "../log-throttle.js";
import type { PolicyEngine } from "../policy/engine.js";
import type { CollaboratorRole, Namespace, PolicyDecision, PolicyInput, ProjectFact, RateLimitClass, SubjectFact } from "../policy/types.js";
import type { RateLimiter, RateLimitResult } from "../stores/types.js";
import { inSpan, inSpanSync } from "../tracing.js";

export interface AuthorizeRequest {
  method: string;
  /** Request target as received (path and optional query). */
  path: string;
  authorization?: string | null;
  /** Evaluate without consuming rate limit. */
  dryRun?: boolean;
}

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

export interface AuthorizedRequest {
  decision: Decision;
  subject: SubjectFact | null;
  /** The policy's trigger permission for an allowed MCP request on a project. */
  triggerAllowed: boolean;
  /** The policy's area of the API for this route (null when no route matched). */
  namespace: Namespace | null;
}

export interface DecisionObserver {
  decided(decision: Decision, seconds: number): void;
  rateLimitFailOpen(): void;
}

export interface AuthorizerOptions {
  engine: PolicyEngine;
  credentials: CredentialResolver;
  facts: CachedFacts;
  rateLimiter: RateLimiter;
  rateLimits: RateLimits;
  rateLimitWindowMs: number;
  rateLimitFail: "open" | "closed";
  logger: Logger;
  observer?: DecisionObserver;
  clock?: () => number;
}

/**
 * The framework-free core: gathers facts for one request, asks the policy and applies the
 * rate limit. Express, nginx and the gateway are adapters around it.
 */
export class Authorizer {
  readonly #logs = new LogThrottle();
  readonly #clock: () => number;

  constructor(private readonly o: AuthorizerOptions) {
    this.#clock = o.clock ?? (() => Date.now() / 1000);
  }

  async authorize(request: AuthorizeRequest): Promise<Decision> {
    return (await this.authorizeWithFacts(request)).decision;
  }

  /** The decision together with what the gateway forwards: the subject's facts and the trigger permission. */
  async authorizeWithFacts(request: AuthorizeRequest): Promise<AuthorizedRequest> {
    const started = process.hrtime.bigint();
    const result = await this.#authorize(request);
    this.o.observer?.decided(result.decision, Number(process.hrtime.bigint() - started) / 1e9);
    return result;
  }

  async #authorize(request: AuthorizeRequest): Promise<AuthorizedRequest> {
    const { engine } = this.o;
    const decisionId = randomUUID();
    const revision = engine.revision;
    const route = engine.route(request.method, request.path);
    let credential: Credential = { status: "none" };
    const input: PolicyInput = { method: request.method, path: request.path, now: this.#clock(), credential: { status: "none" } };

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
        return { decision: this.#unavailable(err, decisionId, revision, route.access, route.pattern, credential), subject: null, triggerAllowed: false, namespace: route.namespace };
      }
    }

    let verdict = inSpanSync("tollgate.policy", () => engine.decide(input));
    let rateLimit: RateLimitSummary | null = null;
    if (verdict.rate_limit_applies && verdict.rate_limit_key !== null && verdict.rate_limit_class !== null) {
      const area = route.namespace === "mcp" ? "mcp" : "api";
      const limit = this.o.rateLimits[area][verdict.rate_limit_class];
      let result: RateLimitResult | null;
      try {
        const key = `${area}:${verdict.rate_limit_class}:${verdict.rate_limit_key}`;
        result = await inSpan("tollgate.rate_limit", () => this.o.rateLimiter.hit(key, limit, this.o.rateLimitWindowMs, { consume: !request.dryRun }));
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        if (this.o.rateLimitFail === "closed") {
          return { decision: this.#unavailable(err, decisionId, revision, verdict.access, verdict.route, credential), subject: null, triggerAllowed: false, namespace: route.namespace };
        }
        this.#failOpen(err);
        result = null;
      }
      if (result) {
        rateLimit = { class: verdict.rate_limit_class, limit: result.limit, remaining: result.remaining, reset_s: Math.ceil(result.reset_ms / 1000) };
        if (!result.allowed) verdict = engine.decide({ ...input, rate_limit: { exceeded: true } });
      }
    }
    return {
      decision: present(verdict, credential, rateLimit, decisionId, revision),
      subject: input.subject ?? null,
      triggerAllowed: verdict.allow && verdict.trigger_allowed,
      namespace: route.namespace,
    };
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

  #unavailable(err: unknown, decisionId: string, revision: string, access: Decision["access"], route: string | null, credential: Credential): Decision {
    if (!isUnavailable(err)) throw err;
    const line = this.#logs.take(`unavailable:${err.backend}`);
    if (line) this.o.logger.error({ err: String(err), backend: err.backend, decision_id: decisionId, held_back: line.held }, "a backend needed for the decision is unavailable; denying");
    return {
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
