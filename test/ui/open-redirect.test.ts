// Open redirects: whatever a link puts in /ui/login's return path (or in a `next` the pages do
// not take), in /ui/logout's or in the sign-in redirect of a page, the browser stays on
// Tollgate: absolute URLs, scheme-relative //host, /\host, and their encoded and whitespace
// variants. Every Location is resolved as a browser resolves it and must keep Tollgate's origin.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RETURN_TO, safeReturnTo, signInLocation } from "../../src/ui/browser-sessions.js";
import { send, startGateway, type Gateway } from "../gateway/helpers.js";
import { csrfOf, formBrowser } from "./browser.js";

let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({});
});
afterAll(() => gw?.close());

const ORIGIN = "https://tollgate.example";

/** What the browser would load after this Location: it must be on Tollgate. */
function staysOnTollgate(location: string | undefined): void {
  expect(location).toBeDefined();
  // A browser strips tabs and newlines from a URL and reads "\" as "/": judge what it loads.
  const resolved = new URL(location!, `${ORIGIN}/ui/login`);
  expect(resolved.origin, location).toBe(ORIGIN);
}

/** Return paths an attacker would try. */
const ATTEMPTS = [
  "https://evil.example/",
  "http://evil.example",
  "//evil.example",
  "///evil.example",
  "/\\evil.example",
  "\\\\evil.example",
  "/\\/evil.example",
  "\\/evil.example",
  "https:evil.example",
  "https:/evil.example",
  "//evil.example@tollgate.example",
  "/%2F%2Fevil.example",
  "%2F%2Fevil.example",
  "/%5Cevil.example",
  "%5C%5Cevil.example",
  "/%09/evil.example",
  "/\t/evil.example",
  "/\n/evil.example",
  "/\r\n//evil.example",
  " //evil.example",
  "\t//evil.example",
  "/ /evil.example",
  "/\u3002/evil.example",
  "//evil\u3002example",
  "javascript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "/.//evil.example",
  "/..//evil.example",
  "",
];

describe("the return path", () => {
  it("safeReturnTo takes only a path of this origin; anything it takes resolves on Tollgate", () => {
    for (const attempt of ATTEMPTS) {
      const kept = safeReturnTo(attempt);
      if (kept !== null) staysOnTollgate(kept);
    }
    for (const refused of ["https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)", ""]) expect(safeReturnTo(refused), refused).toBeNull();
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ unit: fc.constantFrom("/", "\\", ":", "%", "2", "F", "5", "C", "\t", " ", "e", ".", "@", "?", "#"), maxLength: 12 }), (any, tricky) => {
        for (const candidate of [any, tricky, `/${tricky}`]) {
          const kept = safeReturnTo(candidate);
          if (kept !== null) staysOnTollgate(kept);
          staysOnTollgate(signInLocation(candidate));
        }
      }),
    );
  });

  it("the development sign-in returns only to Tollgate, from return_to and from the rendered form", async () => {
    for (const attempt of ATTEMPTS) {
      const posted = await formBrowser(gw.url).post("/ui/login", { user_id: "bob", return_to: attempt });
      expect(posted.status, attempt).toBe(303);
      staysOnTollgate(posted.headers.location);
      expect(posted.headers.location, attempt).toBe(safeReturnTo(attempt) ?? DEFAULT_RETURN_TO);
      // The page renders only an accepted path into its form.
      const page = await send(gw.url, `/ui/login?return_to=${encodeURIComponent(attempt)}`);
      expect(page.status).toBe(200);
      const field = /name="return_to" value="([^"]*)"/.exec(page.body)![1]!.replace(/&amp;/g, "&");
      staysOnTollgate(field);
      // Unless it is a path here (such as /%2F%2Fevil.example, a page of Tollgate's), it is not on the page at all.
      if (safeReturnTo(attempt) === null) expect(page.body, attempt).not.toContain("evil.example");
    }
  });

  it("a `next` parameter is not a return path: it is ignored", async () => {
    for (const attempt of ["https://evil.example/", "//evil.example", "/\\evil.example"]) {
      const page = await send(gw.url, `/ui/login?next=${encodeURIComponent(attempt)}`);
      expect(page.status).toBe(200);
      expect(page.body).not.toContain("evil.example");
      const posted = await formBrowser(gw.url).post(`/ui/login?next=${encodeURIComponent(attempt)}`, { user_id: "bob", next: attempt });
      expect(posted.headers.location).toBe(DEFAULT_RETURN_TO);
    }
  });

  it("a page that needs a session sends the browser to sign in on Tollgate, with a return path of its own", async () => {
    for (const attempt of ["//evil.example", "/\\evil.example", "/%2F%2Fevil.example", "/..%2F..%2F/evil.example"]) {
      const res = await send(gw.url, `/ui/tokens?next=${encodeURIComponent(attempt)}&return_to=${encodeURIComponent(attempt)}`);
      expect(res.status).toBe(303);
      staysOnTollgate(res.headers.location);
      const returnTo = new URL(res.headers.location!, ORIGIN).searchParams.get("return_to")!;
      expect(returnTo.startsWith("/ui/tokens?")).toBe(true);
      staysOnTollgate(returnTo);
    }
  });

  it("signing out answers a page on Tollgate, whatever the request asks", async () => {
    for (const attempt of ["https://evil.example/", "//evil.example", "/\\evil.example"]) {
      const browser = formBrowser(gw.url);
      await browser.post("/ui/login", { user_id: "bob" });
      const csrf = csrfOf((await browser.get("/ui/tokens")).body);
      const out = await browser.post(`/ui/logout?next=${encodeURIComponent(attempt)}&return_to=${encodeURIComponent(attempt)}`, { csrf_token: csrf, next: attempt, return_to: attempt });
      expect(out.status).toBe(200);
      expect(out.headers.location).toBeUndefined();
      expect(out.body).not.toContain("evil.example");
    }
  });
});
