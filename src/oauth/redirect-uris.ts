// Which redirect URIs a client may register and be sent back to. oidc-provider alone lets a
// "web" client register plain-http URIs on any host (a code sent in clear, over any network),
// and gives a native client's `http://localhost` URI any port (RFC 8252 §7.3 grants that to the
// loopback IP literals only: on `localhost` another local process may own the other port, or
// the name may not resolve to loopback at all). Installed on the provider in provider.ts.

/** The IP literals RFC 8252 §7.3 lets a native client's redirect URI use on any port. */
const LOOPBACK_IPS: ReadonlySet<string> = new Set(["127.0.0.1", "[::1]"]);
/** The hosts a plain-http redirect URI may name (RFC 8252 §7.3, §8.3): loopback only. */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set([...LOOPBACK_IPS, "localhost"]);

/** Whether a redirect URI's host is one a plain-http redirect URI may name. */
export function isLoopbackRedirectHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

/** Why a redirect URI may not be registered; null when it may. */
export function redirectUriProblem(uri: string): string | null {
  const parsed = URL.parse(uri);
  if (parsed === null) return "a redirect URI must be a valid URI";
  if (parsed.protocol === "http:" && !isLoopbackRedirectHost(parsed.hostname)) return "a plain-http redirect URI must name a loopback host (127.0.0.1, [::1] or localhost); use https";
  return null;
}

/**
 * Whether `value` (an authorization request's redirect_uri) is one of `registered`: the same
 * string, or for a native client the same loopback IP redirect URI on another port. Never a
 * URI that could not be registered today (a client stored before this rule).
 */
export function redirectUriAllowed(value: string, registered: readonly string[], native: boolean): boolean {
  if (redirectUriProblem(value) !== null) return false;
  if (registered.includes(value)) return true;
  if (!native) return false;
  const withoutPort = loopbackIpWithoutPort(value);
  return withoutPort !== null && registered.some((uri) => loopbackIpWithoutPort(uri) === withoutPort);
}

/** A plain-http loopback IP URI with its port removed, as it was written otherwise; null for any other URI. */
function loopbackIpWithoutPort(uri: string): string | null {
  const parsed = URL.parse(uri);
  if (parsed === null || parsed.protocol !== "http:" || !LOOPBACK_IPS.has(parsed.hostname) || parsed.username !== "" || parsed.password !== "") return null;
  // The URI as sent, not as URL re-serialises it: only the port may differ.
  const authority = /^http:\/\/([^/?#]*)/i.exec(uri);
  if (authority === null) return null;
  const host = authority[1]!.replace(/:\d*$/, "");
  return `http://${host.toLowerCase()}${uri.slice(authority[0].length)}`;
}
