// A tiny cookie-keeping client for the pages' HTTP tests: what a browser sends, without a browser.
import { send, type Sent } from "../gateway/helpers.js";

export interface FormBrowser {
  /** name → value of the cookies the server set and did not clear. */
  cookies: Map<string, string>;
  get(path: string, headers?: Record<string, string>): Promise<Sent>;
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Sent>;
}

export function formBrowser(base: string): FormBrowser {
  const cookies = new Map<string, string>();
  const keep = (res: Sent): Sent => {
    for (const line of res.headers["set-cookie"] ?? []) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      if (attributes.some((a) => a.trim() === "Max-Age=0")) cookies.delete(name);
      else cookies.set(name, pair!.slice(eq + 1));
    }
    return res;
  };
  const cookieHeader = (): Record<string, string> => (cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") } : {});
  return {
    cookies,
    get: async (path, headers = {}) => keep(await send(base, path, { headers: { ...cookieHeader(), ...headers } })),
    post: async (path, form, headers = {}) =>
      keep(
        await send(base, path, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin", ...cookieHeader(), ...headers },
          body: new URLSearchParams(form).toString(),
        }),
      ),
  };
}

/** The value of the page's first CSRF field. */
export function csrfOf(page: string): string {
  const match = /name="csrf_token" value="([^"]+)"/.exec(page);
  if (!match) throw new Error("no CSRF field on the page");
  return match[1]!;
}
