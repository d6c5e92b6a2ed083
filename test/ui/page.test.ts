import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentSecurityPolicy, escapeHtml, html, renderPage } from "../../src/ui/page.js";
import { listen, stopServer } from "../gateway/helpers.js";

describe("html", () => {
  it("escapes every value, keeps nested templates and joins lists", () => {
    const name = `<script>alert("x")</script>&'`;
    const items = ["a<b", "c"].map((s) => html`<li>${s}</li>`);
    expect(html`<p title="${name}">${name}</p><ul>${items}</ul>${null}${false}${undefined}${3}`.markup).toBe(
      `<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p><ul><li>a&lt;b</li><li>c</li></ul>3`,
    );
    expect(escapeHtml(`"'<>&`)).toBe("&quot;&#39;&lt;&gt;&amp;");
  });
});

describe("contentSecurityPolicy", () => {
  it("allows scripts and styles from the origin only, and no framing", () => {
    const csp = contentSecurityPolicy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(contentSecurityPolicy("abc123")).toContain("script-src 'self' 'nonce-abc123'");
  });
});

describe("renderPage", () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/nonce") renderPage(res, { title: "N", body: "<p>x</p>", nonce: "n0nce" });
      else renderPage(res, { title: "Tokens <&>", body: html`<p>${"<b>"}</p>`, status: 403 });
    });
    base = await listen(server);
  });
  afterAll(() => stopServer(server));

  it("writes the layout, the status and the security headers", async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toBe(contentSecurityPolicy());
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = await res.text();
    expect(body).toMatch(/^<!doctype html>/);
    expect(body).toContain('<html lang="en">');
    expect(body).toContain("<title>Tokens &lt;&amp;&gt; · Tollgate</title>");
    expect(body).toContain("<h1>Tokens &lt;&amp;&gt;</h1>");
    expect(body).toContain("<p>&lt;b&gt;</p>");
    expect(body).toContain('<main id="main" tabindex="-1">');
    expect(body).not.toMatch(/<script/);
  });

  it("allows the given nonce", async () => {
    const res = await fetch(`${base}/nonce`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("'nonce-n0nce'");
    expect(await res.text()).toContain("<p>x</p>");
  });
});
