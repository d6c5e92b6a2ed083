import type { ServerResponse } from "node:http";

/** Markup that is already safe to insert: built by `html`, never from a plain string. */
export class Html {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for an element or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Slot = Html | string | number | null | undefined | false | readonly Slot[];

const slot = (value: Slot): string => {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(slot).join("");
  return escapeHtml(value);
};

/** A template of markup whose every value is escaped, except Html (nested templates) and lists of them. */
export function html(strings: TemplateStringsArray, ...values: Slot[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += slot(value) + strings[i + 1]!;
  });
  return new Html(out);
}

export interface PageOptions {
  /** The page's <title> and its one <h1>. */
  title: string;
  /** The content under the heading: an Html, or a string of markup the caller has escaped. */
  body: Html | string;
  /** Default 200. */
  status?: number;
  /** A nonce allowed to run scripts (a <script nonce="…">): prefer a script under /ui/assets/. */
  nonce?: string;
}

/** The stylesheet and scripts the pages use (served by the /ui/assets/ routes). */
export const STYLESHEET_PATH = "/ui/assets/ui.css";

/**
 * Scripts and styles only from Tollgate's own origin (no inline script unless a nonce is given),
 * no framing, no plugins, no <base>. No form-action: the consent form's answer redirects to the
 * client's redirect URI, and Chromium applies form-action to the redirects after a form post.
 */
export function contentSecurityPolicy(nonce?: string): string {
  const scripts = nonce ? `'self' 'nonce-${nonce}'` : "'self'";
  return [
    "default-src 'none'",
    `script-src ${scripts}`,
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The security headers of every page (and of what the pages load). */
export function setPageHeaders(res: ServerResponse, nonce?: string): void {
  res.setHeader("Content-Security-Policy", contentSecurityPolicy(nonce));
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  // Pages show a user's tokens (a new one's secret once): never kept by a cache or the back button.
  res.setHeader("Cache-Control", "no-store");
}

/** Writes a whole page: the layout (skip link, header, <main> with the heading) and its headers. */
export function renderPage(res: ServerResponse, { title, body, status = 200, nonce }: PageOptions): void {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Tollgate</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><p class="brand">Tollgate</p></header>
<main id="main" tabindex="-1">
<h1>${title}</h1>
${new Html(String(body))}
</main>
</body>
</html>
`;
  setPageHeaders(res, nonce);
  res.statusCode = status;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.end(page.markup);
}
