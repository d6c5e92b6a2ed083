// URLs an operator writes in the configuration.

/** An absolute http(s) URL without credentials, query or fragment, or the problem with it. */
export function absoluteUrl(raw: string): URL | string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http(s) URL";
  if (url.username || url.password) return "must not carry a user name or password";
  if (url.search || url.hash || raw.includes("?") || raw.includes("#")) return "must not have a query or fragment";
  return url;
}
