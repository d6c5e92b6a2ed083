import { createHash } from "node:crypto";
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { LoadedPolicy, loadPolicySync as LoadPolicySync } from "@open-policy-agent/opa-wasm";
import { LRUCache } from "lru-cache";
import { isWellFormed } from "../domain.js";
import type { Logger } from "../log.js";
import type { AdminDecision, AdminInput, GrantViolation, GrantsInput, PolicyDecision, PolicyInput, RouteInfo } from "./types.js";
import { isAdminDecision, isGrantViolations, isPolicyDecision, isRateLimitClasses, isRouteInfo } from "./validate-output.js";

// The SDK is CommonJS and its ESM entry re-exports only the async loader.
const { loadPolicySync } = createRequire(import.meta.url)("@open-policy-agent/opa-wasm") as { loadPolicySync: typeof LoadPolicySync };

export const POLICY_FILE = "policy.wasm";
const DECISION_ENTRYPOINT = "tollgate/authz/decision";
const ROUTE_ENTRYPOINT = "tollgate/authz/route";
const ADMIN_ENTRYPOINT = "tollgate/admin/decision";
const GRANTS_ENTRYPOINT = "tollgate/grants/violations";
const MCP_CLASSES_ENTRYPOINT = "tollgate/authz/mcp_rate_limit_classes";

export interface EngineOptions {
  /** Inputs whose JSON is larger are denied without evaluation (WASM memory never shrinks). */
  maxInputBytes?: number;
  /** Upper bound on the policy's linear memory, in 64 KiB pages. */
  maxMemoryPages?: number;
  /** Route lookups are a pure function of method and path; this many are cached per revision. */
  routeCacheSize?: number;
  logger?: Logger;
}

/** The engine's own denials, for when the policy cannot be asked or gives no usable answer. */
function engineDeny(status: 400 | 500, reason: string): PolicyDecision {
  return {
    allow: false,
    status: status as PolicyDecision["status"],
    reasons: [reason],
    access: null,
    route: null,
    project_id: null,
    rate_limit_class: null,
    rate_limit_applies: false,
    rate_limit_key: null,
    trigger_allowed: false,
    granted_projects: null,
    mcp_tools: null,
  };
}

/** Longest method-and-path (characters) whose route is cached. */
const MAX_CACHED_PATH = 2048;

const INVALID_ROUTE: RouteInfo = {
  valid_path: false,
  pattern: null,
  namespace: null,
  access: null,
  rate_limit_class: null,
  sensitive: false,
  project_id: null,
  mcp_message: false,
  mcp_endpoint: false,
};

interface ActivePolicy {
  wasm: LoadedPolicy;
  revision: string;
  routes: LRUCache<string, RouteInfo>;
}

/**
 * Evaluates the compiled policy in-process. One instance per process: opa-wasm's evaluate()
 * is synchronous and mutates the instance's memory. A reload swaps the whole policy at once;
 * a broken file keeps the last good one.
 */
export class PolicyEngine {
  #active: ActivePolicy;
  #watcher: FSWatcher | undefined;
  readonly #dir: string;
  readonly #options: Required<Omit<EngineOptions, "logger">>;
  readonly #logger: Logger | undefined;

  private constructor(dir: string, active: ActivePolicy, options: EngineOptions) {
    this.#dir = dir;
    this.#active = active;
    this.#logger = options.logger;
    this.#options = {
      maxInputBytes: options.maxInputBytes ?? 64 * 1024,
      maxMemoryPages: options.maxMemoryPages ?? 1024,
      routeCacheSize: options.routeCacheSize ?? 10_000,
    };
  }

  /** Loads `dir/policy.wasm`; throws when it is missing or not a usable Tollgate policy. */
  static load(dir: string, options: EngineOptions = {}): PolicyEngine {
    const active = compile(readFileSync(join(dir, POLICY_FILE)), options);
    return new PolicyEngine(dir, active, options);
  }

  /** `sha256:<hex>` of the active policy.wasm. */
  get revision(): string {
    return this.#active.revision;
  }

  /**
   * The route a request names. The query never changes it, so it is left out of the evaluation
   * and of the cache key: one entry per method and path, however many query strings arrive.
   * Paths past MAX_CACHED_PATH are evaluated every time, so the cache stays small.
   */
  route(method: string, path: string): RouteInfo {
    const active = this.#active;
    const queryAt = path.indexOf("?");
    const input = { method, path: queryAt < 0 ? path : path.slice(0, queryAt) };
    const key = `${input.method} ${input.path}`;
    const cacheable = key.length <= MAX_CACHED_PATH;
    const cached = cacheable ? active.routes.get(key) : undefined;
    if (cached) return cached;
    const json = encodeJson(input);
    if (json.byteLength > this.#options.maxInputBytes || !isWellFormed(input.path)) return INVALID_ROUTE;
    let info: RouteInfo = INVALID_ROUTE;
    try {
      const result = firstResult(active.wasm.evaluate(json, ROUTE_ENTRYPOINT));
      if (isRouteInfo(result)) info = result;
      else this.#logger?.error({ revision: active.revision }, "policy route result is malformed; treating the path as invalid");
    } catch (err) {
      this.#logger?.error({ err, revision: active.revision }, "policy route evaluation failed");
    }
    if (cacheable) active.routes.set(key, info);
    return info;
  }

  /** Route lookups cached for the active revision. */
  get cachedRoutes(): number {
    return this.#active.routes.size;
  }

  decide(input: PolicyInput): PolicyDecision {
    const json = encodeJson(input);
    if (json.byteLength > this.#options.maxInputBytes) return engineDeny(400, "input_too_large");
    // opa-wasm throws on a lone surrogate; such a path names nothing, whoever asks.
    if (typeof input?.path === "string" && !isWellFormed(input.path)) return engineDeny(400, "invalid_path");
    const active = this.#active;
    try {
      const result = firstResult(active.wasm.evaluate(json, DECISION_ENTRYPOINT));
      if (isPolicyDecision(result)) return result;
      this.#logger?.error({ revision: active.revision }, "policy decision is undefined or malformed; denying");
    } catch (err) {
      this.#logger?.error({ err, revision: active.revision }, "policy evaluation failed; denying");
    }
    return engineDeny(500, "policy_error");
  }

  /**
   * May this caller use Tollgate's own admin API, and does the attempt count as a failure? A
   * failed or malformed evaluation is refused with 500 policy_error, not counted.
   */
  adminDecision(input: AdminInput): AdminDecision {
    try {
      const result = firstResult(this.#active.wasm.evaluate(input, ADMIN_ENTRYPOINT));
      if (isAdminDecision(result)) return result;
      this.#logger?.error({ revision: this.#active.revision }, "policy admin decision is undefined or malformed; refusing");
    } catch (err) {
      this.#logger?.error({ err, revision: this.#active.revision }, "policy admin evaluation failed; refusing");
    }
    return { allow: false, status: 500, reason: "policy_error", count_failure: false };
  }

  /**
   * The grants a user may not put on an MCP token. A failed or malformed evaluation refuses
   * every grant.
   */
  grantViolations(input: GrantsInput): GrantViolation[] {
    const refuseAll = (): GrantViolation[] =>
      input.grants.map((_, index) => ({ index, field: `grants.${index}.project_id`, reason: "policy_error" }));
    try {
      const result = firstResult(this.#active.wasm.evaluate(input, GRANTS_ENTRYPOINT));
      if (isGrantViolations(result)) return result;
      this.#logger?.error({ revision: this.#active.revision }, "policy grants result is malformed; refusing the grants");
    } catch (err) {
      this.#logger?.error({ err, revision: this.#active.revision }, "policy grants evaluation failed; refusing the grants");
    }
    return input.grants.length > 0 ? refuseAll() : [{ index: -1, field: "grants", reason: "policy_error" }];
  }

  /**
   * The rate-limit classes the active policy's tool table names (each needs a limit in
   * TOLLGATE_RATE_LIMITS.mcp). Throws when the policy cannot say.
   */
  mcpRateLimitClasses(): string[] {
    const result = firstResult(this.#active.wasm.evaluate({}, MCP_CLASSES_ENTRYPOINT));
    if (!isRateLimitClasses(result)) throw new Error(`policy.wasm ${MCP_CLASSES_ENTRYPOINT} is not a list of class names`);
    return result;
  }

  /** Re-reads policy.wasm. Returns true when a new revision became active. */
  reload(): boolean {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(this.#dir, POLICY_FILE));
    } catch (err) {
      this.#logger?.error({ err }, "policy reload: cannot read policy.wasm; keeping the active policy");
      return false;
    }
    if (sha256(bytes) === this.#active.revision) return false;
    try {
      const next = compile(bytes, this.#options);
      const previous = this.#active.revision;
      this.#active = next;
      this.#logger?.info({ previous, revision: next.revision }, "policy reloaded");
      return true;
    } catch (err) {
      this.#logger?.error({ err: String(err) }, "policy reload rejected a broken policy.wasm; keeping the active policy");
      return false;
    }
  }

  /** Watches the policy folder and reloads on change (debounced). */
  watch(debounceMs = 100): void {
    if (this.#watcher) return;
    let timer: NodeJS.Timeout | undefined;
    this.#watcher = watch(this.#dir, () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.reload(), debounceMs);
    });
    this.#watcher.unref();
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

function compile(bytes: Buffer, options: EngineOptions): ActivePolicy {
  const wasm = loadPolicySync(bytes, { initial: 5, maximum: options.maxMemoryPages ?? 1024 });
  const entrypoints = Object.keys(wasm.entrypoints ?? {});
  for (const required of [DECISION_ENTRYPOINT, ROUTE_ENTRYPOINT, ADMIN_ENTRYPOINT, GRANTS_ENTRYPOINT, MCP_CLASSES_ENTRYPOINT]) {
    if (!entrypoints.includes(required)) throw new Error(`policy.wasm has no entrypoint ${required}`);
  }
  // A policy that cannot answer a trivial question is not put into service.
  const probe = firstResult(wasm.evaluate({ method: "GET", path: "/" }, ROUTE_ENTRYPOINT));
  if (!isRouteInfo(probe)) throw new Error("policy.wasm route entrypoint returns a malformed result");
  return {
    wasm,
    revision: sha256(bytes),
    routes: new LRUCache({ max: options.routeCacheSize ?? 10_000 }),
  };
}

function firstResult(resultSet: unknown): unknown {
  if (!Array.isArray(resultSet) || resultSet.length !== 1) return undefined;
  const [first] = resultSet as Array<{ result?: unknown }>;
  return first?.result;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

const utf8 = new TextEncoder();

/**
 * The input as the UTF-8 JSON opa-wasm would make of it (JSON.stringify, then TextEncoder), made
 * once: its length is checked against maxInputBytes and the same bytes are evaluated, which
 * opa-wasm takes as they are when handed an ArrayBuffer (it would otherwise serialise again).
 */
function encodeJson(value: unknown): ArrayBuffer {
  const bytes = utf8.encode(JSON.stringify(value));
  const { buffer } = bytes;
  // encode() returns a view over a buffer of its own; copy only if it ever shares one.
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength
    ? buffer
    : bytes.slice().buffer;
}
