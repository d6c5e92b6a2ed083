// The policy's input and output. TypeScript gathers these facts; Rego decides.
// Documented for policy authors in docs/policy.md.

export type SystemRole = "viewer" | "user" | "admin";
export type CollaboratorRole = "Owner" | "Administrator" | "Developer";
export type Scope = "read" | "write";
export type Access = "read" | "write";
/**
 * A rate-limit class: the route table's (default, log, artifact, trigger) or one the tool table
 * names. Each needs a limit in TOLLGATE_RATE_LIMITS for its area.
 */
export type RateLimitClass = string;
/** How a rate-limit class is spelt (the tool table's generator and TOLLGATE_RATE_LIMITS hold to it). */
export const RATE_LIMIT_CLASS = /^[a-z][a-z0-9_]{0,31}$/;
export type Namespace = "projects" | "admin" | "user" | "mcp" | "mcp_tokens";

/** What the credential check found. "valid" means authenticated; expiry of tokens is judged by the policy. */
export type CredentialStatus = "none" | "valid" | "invalid" | "expired" | "revoked";

export interface GrantFact {
  project_id: string;
  /** Unix seconds; null or absent: lasts as long as the token. */
  expires_at?: number | null;
  allow_trigger: boolean;
}

export type SubjectFact =
  | { type: "user"; user_id: string; system_role: SystemRole }
  | {
      type: "global_token";
      token_id: string;
      user_id: string;
      system_role: SystemRole;
      scopes: Scope[];
      expires_at?: number | null;
    }
  | {
      type: "project_token";
      token_id: string;
      project_id: string;
      scopes: Scope[];
      expires_at?: number | null;
    }
  | {
      type: "mcp_token";
      token_id: string;
      /**
       * Whose MCP sessions the token holds: the OAuth grant (refresh family) of a token an
       * authorization server issued, so that a refreshed token keeps its sessions. Absent for
       * tokens made by hand, whose sessions are the token id's.
       */
      binding_id?: string;
      user_id: string;
      system_role: SystemRole;
      grants: GrantFact[];
      expires_at?: number | null;
      /** Issued by the OAuth authorization server: to this client, bound to this project's MCP endpoint. */
      oauth?: { client_id: string; grant_id: string; project_id: string | null };
    };

export type SubjectType = SubjectFact["type"];

export interface ProjectFact {
  id: string;
  public: boolean;
  /** The subject's user's role in this project; null when not a collaborator (or no user). */
  collaborator_role: CollaboratorRole | null;
}

export interface PolicyInput {
  method: string;
  /** The request target as received: path and optional query. Never normalized. */
  path: string;
  /** Unix seconds. */
  now: number;
  credential: { status: CredentialStatus };
  subject?: SubjectFact;
  project?: ProjectFact;
  /** MCP tokens only: the user's collaborator role (null: none) in each project the grants name. */
  grant_roles?: Record<string, CollaboratorRole | null>;
  rate_limit?: { exceeded: boolean };
  /** A message to a project's MCP endpoint (the route's mcp_message): what the tool table judges. */
  mcp?: McpCall;
  /**
   * On a route with mcp_endpoint, once the session the request presents (Mcp-Session-Id) has been
   * looked up: whether the caller's token opened it. Absent when none is presented, and on the
   * first evaluation (the lookup shares the rate-limit call, which needs the policy's answer).
   */
  mcp_session?: { bound_to_caller: boolean };
}

/**
 * What the policy is told of one JSON-RPC message: its method, and the tool (tools/call's
 * params.name) or resource (resources/read's params.uri) it names. A response to the server's
 * request has the method "rpc.response".
 */
export interface McpCall {
  method: string;
  tool?: string;
  uri?: string;
}

/** Output of the `tollgate/authz/route` entrypoint: what the path names, from method and path alone. */
export interface RouteInfo {
  valid_path: boolean;
  pattern: string | null;
  namespace: Namespace | null;
  access: Access | null;
  rate_limit_class: RateLimitClass | null;
  sensitive: boolean;
  project_id: string | null;
  /** The body is one JSON-RPC message the policy judges by the tool table (input.mcp). */
  mcp_message: boolean;
  /** A project's MCP endpoint (any method): an Mcp-Session-Id presented is checked (input.mcp_session). */
  mcp_endpoint: boolean;
}

/** Output of the `tollgate/authz/decision` entrypoint. */
export interface PolicyDecision {
  allow: boolean;
  status: 200 | 400 | 401 | 403 | 404 | 429;
  reasons: string[];
  access: Access | null;
  route: string | null;
  project_id: string | null;
  rate_limit_class: RateLimitClass | null;
  rate_limit_applies: boolean;
  rate_limit_key: string | null;
  /** Allowed MCP request on a project: this token may also trigger there (for the MCP server's tools). */
  trigger_allowed: boolean;
  /** MCP tokens: the projects of the live grants (unexpired, user still a collaborator), sorted; null otherwise. */
  granted_projects: string[] | null;
  /**
   * An allowed tools/list message, or GET of a project's MCP endpoint (where a resumed
   * tools/list answer may arrive): the tool table's tools a tools/call of this caller would be
   * allowed, sorted. The gateway removes every other tool from tools/list answers. Null otherwise.
   */
  mcp_tools: string[] | null;
}

/** Input of the `tollgate/admin/decision` entrypoint: the facts Tollgate gathered. */
export interface AdminInput {
  /** The bearer credential equals TOLLGATE_ADMIN_TOKEN. */
  admin_token: boolean;
  /** An Authorization header was sent (blank counts as sent). */
  authorization: boolean;
  credential: { status: CredentialStatus };
  subject?: SubjectFact;
  /** Second evaluation only: the client address's failed attempts are over their limit. */
  failures?: { exceeded: boolean };
}

/** Why the admin guard refuses a request (catalogue codes). */
export type AdminRefusal = "missing_token" | "invalid_token" | "expired_token" | "revoked_token" | "insufficient_role" | "rate_limited";

/** Output of the `tollgate/admin/decision` entrypoint. */
export type AdminDecision =
  | { allow: true; status: 200; reason: null; count_failure: false }
  | { allow: false; status: 401 | 403 | 429; reason: AdminRefusal; count_failure: boolean }
  /** The engine's own answer when the policy cannot give one. */
  | { allow: false; status: 500; reason: "policy_error"; count_failure: false };

/** Input of the `tollgate/grants/violations` entrypoint. */
export interface GrantsInput {
  system_role: SystemRole;
  /** The user's collaborator role in each project the grants name (null: none). */
  roles: Record<string, CollaboratorRole | null>;
  grants: Array<{ project_id: string; allow_trigger: boolean }>;
}

export interface GrantViolation {
  index: number;
  field: string;
  reason: string;
}
