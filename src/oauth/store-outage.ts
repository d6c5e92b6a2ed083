// The authorization server while a backend it needs (its shared OAuth store, the fact stores, the
// registration limiter) is unavailable: it fails closed and says so. Nothing is issued, and the
// client reads RFC 6749's `temporarily_unavailable` with 503 and Retry-After instead of
// oidc-provider's generic 500 server_error; the outage is logged once per request, without a trace.
import Provider, { errors, type Adapter, type ProviderRequestContext } from "oidc-provider";
import { BACKEND_RETRY_AFTER_S, ERRORS, isUnavailable } from "../errors.js";
import type { Logger } from "../log.js";
import type { BackendUnavailableError } from "../stores/types.js";

const TEMPORARILY_UNAVAILABLE = "temporarily_unavailable";

/** An authorization endpoint's refusal redirected to the client's redirect_uri (query or fragment response mode). */
const REFUSAL_REDIRECT = /[?&#]error=temporarily_unavailable(?:&|$)/;

/** The backend outage behind a provider request's refusal: the first one, for the one log line. */
const outages = new WeakMap<ProviderRequestContext, BackendUnavailableError>();

/**
 * oidc-provider's error for an unavailable backend: exposed (a 5xx of its own would be shown as
 * server_error), 503. Its endpoints answer it as they answer any OAuth error: JSON from the token,
 * registration and revocation endpoints; from the authorization endpoint a redirect to a known
 * client's redirect_uri (RFC 6749 §4.1.2.1) or, when the client itself could not be loaded, JSON.
 */
export function storeUnavailable(cause: BackendUnavailableError): Error {
  const ctx = Provider.ctx;
  if (ctx && !outages.has(ctx)) outages.set(ctx, cause);
  const err = new errors.TemporarilyUnavailable(ERRORS.backend_unavailable.message, { cause });
  err.status = err.statusCode = ERRORS.backend_unavailable.status;
  return err;
}

/** The unavailable backend's error behind an error a store or the provider threw (storeUnavailable's cause); null for any other error. */
export function outageCause(err: unknown): BackendUnavailableError | null {
  if (isUnavailable(err)) return err;
  if (err instanceof Error && (err as { error?: unknown }).error === TEMPORARILY_UNAVAILABLE && isUnavailable(err.cause)) return err.cause;
  return null;
}

/** Every adapter call, with an unavailable backend's error as storeUnavailable(). */
export function failClosedAdapter(adapter: Adapter): Adapter {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(adapter) as Array<[string, (...args: unknown[]) => Promise<unknown>]>) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await method(...args);
      } catch (err) {
        throw isUnavailable(err) ? storeUnavailable(err) : err;
      }
    };
  }
  return wrapped as unknown as Adapter;
}

/** Provider middleware: a request refused for an outage gets Retry-After and no-store (on a 503, as writeOAuthUnavailable) and one log line. */
export function reportOutages(provider: Provider, logger: Logger): void {
  provider.use(async (ctx, next) => {
    await next();
    const cause = outages.get(ctx);
    // An outage the provider recovered from (its error handler's second look at the client) refused nothing.
    const refused = ctx.status === ERRORS.backend_unavailable.status;
    if (!cause || !(refused || REFUSAL_REDIRECT.test(ctx.response.get("location")))) return;
    if (refused) {
      ctx.set("Retry-After", String(BACKEND_RETRY_AFTER_S));
      ctx.set("Cache-Control", "no-store");
    }
    logger.error({ backend: cause.backend, err: String(cause), method: ctx.method, path: ctx.path, status: ctx.status }, "oauth: backend unavailable; answered temporarily_unavailable");
  });
}
