import type { IncomingHttpHeaders } from "node:http";

// How frameworks let a request name another method than its own: these headers (Express's
// method-override, ASP.NET Core, Symfony, Laravel, gorilla/handlers, OData, Google APIs) and a
// `_method` parameter (Rails, Laravel and Symfony read it from the form body, Symfony, Spring,
// gorilla and method-override('_method') from the query too; Slim spells it `_METHOD`).
const OVERRIDE_HEADERS: ReadonlySet<string> = new Set(["x-http-method-override", "x-http-method", "x-method-override"]);

/**
 * Why a request names a method besides its own, or null. Tollgate judges the request's method;
 * an upstream that honours an override would act on another one (a GET judged as a read, run
 * as a DELETE), so such a request is refused, on every entry point, rather than judged two ways.
 * `headers`: the request's (the gateway's, the one forward auth and ext-authz describe, the
 * Data API's input.headers);
 * `target`: the request target judged (its query is looked at).
 */
export function methodOverride(target: string, headers?: IncomingHttpHeaders | Record<string, unknown>): string | null {
  if (headers) {
    for (const name of Object.keys(headers)) {
      // Any case (the Data API's input.headers keep the caller's); CGI-style stacks read "_" as
      // "-": X_HTTP_Method_Override is the same header to them.
      if (OVERRIDE_HEADERS.has(name.toLowerCase().replaceAll("_", "-"))) return `the ${name} header names another method; send the request with the method it means`;
    }
  }
  const q = target.indexOf("?");
  if (q === -1) return null;
  // ";" too: older parsers (Python's before 3.9.2, Perl's CGI) split the query at it.
  for (const pair of target.slice(q + 1).split(/[&;]/)) {
    const eq = pair.indexOf("=");
    if (overrideParameter(eq === -1 ? pair : pair.slice(0, eq))) return "a _method query parameter names another method; send the request with the method it means";
  }
  return null;
}

/**
 * Whether a query parameter's name is `_method` as some framework reads it: percent-decoded,
 * any case, and as PHP rewrites names (leading spaces dropped, " ", "." and "[" as "_", a
 * trailing "[…]" making it an array).
 */
function overrideParameter(raw: string): boolean {
  if (!/method/i.test(raw) && !raw.includes("%")) return false;
  let name: string;
  try {
    name = decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    name = raw;
  }
  const php = name.trimStart().toLowerCase().replace(/^[ .[]/, "_").replace(/[ .]/g, "_");
  return php === "_method" || php.startsWith("_method[");
}
