// The consent page's markup (src/ui/consent.ts decides what it shows).
import { escapeHtml } from "./page.js";

export interface ConsentView {
  uid: string;
  csrf: string;
  clientName: string;
  clientUri: string | null;
  redirectHost: string;
  projectId: string;
  projectName: string;
  resource: string;
  /** Whether to offer allow_trigger (mcp:trigger requested and the user may trigger). */
  offerTrigger: boolean;
  /** Why the user cannot approve, when they cannot (then only Deny is offered). */
  refusal: string | null;
  expiryChoices: ReadonlyArray<{ seconds: number; label: string }>;
  defaultExpiryS: number;
}

/** The page's title (renderPage escapes it and makes it the heading). */
export function consentTitle(v: Pick<ConsentView, "clientName">): string {
  return `Allow ${v.clientName} to use Tollgate's MCP server?`;
}

export function consentBody(v: ConsentView): string {
  const e = escapeHtml;
  const client = v.clientUri ? `<a href="${e(v.clientUri)}" rel="noreferrer">${e(v.clientName)}</a>` : e(v.clientName);
  const choices = v.expiryChoices
    .map((c) => `<option value="${c.seconds}"${c.seconds === v.defaultExpiryS ? " selected" : ""}>${e(c.label)}</option>`)
    .join("");
  const approve = v.refusal
    ? `<p role="alert">${e(v.refusal)}</p>`
    : `${v.offerTrigger ? `<p><label><input type="checkbox" name="allow_trigger" value="true"> Also allow it to trigger builds (<code>mcp:trigger</code>)</label></p>` : ""}
<p><label for="expires_in">Access lasts</label> <select id="expires_in" name="expires_in">${choices}</select></p>`;
  return `<dl>
<dt>Application</dt><dd>${client}</dd>
<dt>It will be sent back to</dt><dd><code>${e(v.redirectHost)}</code></dd>
<dt>Project</dt><dd>${e(v.projectName)} (<code>${e(v.projectId)}</code>)</dd>
<dt>MCP server</dt><dd><code>${e(v.resource)}</code></dd>
</dl>
<form method="post" action="/ui/consent">
<input type="hidden" name="uid" value="${e(v.uid)}">
<input type="hidden" name="csrf" value="${e(v.csrf)}">
${approve}
<p>${v.refusal ? "" : `<button type="submit" name="decision" value="allow">Allow</button> `}<button type="submit" name="decision" value="deny">Deny</button></p>
</form>`;
}
