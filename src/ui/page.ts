// PRIVATE COPY of the ui helper's contract (issue 11, "Shared contract"): the ui branch owns
// this file and replaces it at merge. Only the exported signatures are the contract.
import type { ServerResponse } from "node:http";

export interface PageOptions {
  title: string;
  /** HTML, already escaped where it carries data. */
  body: string;
  status?: number;
  nonce?: string;
}

/** An HTML page: no script, no framing, nothing loaded from elsewhere. */
export function renderPage(res: ServerResponse, page: PageOptions): void {
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(page.title)} · Tollgate</title></head>
<body><main>
${page.body}
</main></body>
</html>
`;
  res.writeHead(page.status ?? 200, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(html),
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
