// What the commands print: the result on stdout (plain text, or JSON with --json), notes and
// warnings on stderr, so `--json` output can be piped as it is.
import type { AuditRecord } from "../audit/types.js";
import type { TokenView } from "../issuing/token-issuer.js";
import { cliIo } from "./io.js";

export function print(text: string): void {
  cliIo().stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  cliIo().stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One JSON value per line (streams: audit tail). */
export function printJsonLine(value: unknown): void {
  cliIo().stdout.write(`${JSON.stringify(value)}\n`);
}

export function note(text: string): void {
  cliIo().stderr.write(`tollgate: ${text}\n`);
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function tokenStatus(view: TokenView, now = new Date()): "active" | "revoked" | "expired" {
  if (view.revoked_at) return "revoked";
  if (view.expires_at && new Date(view.expires_at) <= now) return "expired";
  return "active";
}

export function grantText(g: TokenView["grants"][number]): string {
  return `${g.project_id}${g.allow_trigger ? ":trigger" : ""}${g.expires_at ? `@${g.expires_at}` : ""}`;
}

/** What a token may reach: its project and scopes, or its grants. */
function reach(view: TokenView): string {
  if (view.type === "mcp") return view.grants.length ? view.grants.map(grantText).join(", ") : "(no grants)";
  return view.scopes.join(",");
}

/** The token as `key: value` lines; `value` (the secret, just issued) first. */
export function tokenDetails(view: TokenView, value?: string): string {
  const rows: Array<[string, string]> = [
    ...(value !== undefined ? [["token", value] as [string, string]] : []),
    ["id", view.id],
    ["type", view.type],
    ["name", view.name],
    ["status", tokenStatus(view)],
  ];
  if (view.user_id !== null) rows.push(["user", view.user_id]);
  if (view.project_id !== null) rows.push(["project", view.project_id]);
  if (view.client) rows.push(["client", [view.client.client_name ?? view.client.client_id, view.client.client_uri].filter(Boolean).join(" ") + " (OAuth)"]);
  rows.push(view.type === "mcp" ? ["grants", reach(view)] : ["scopes", reach(view)]);
  rows.push(["created", view.created_at], ["expires", view.expires_at ?? "never"]);
  if (view.revoked_at) rows.push(["revoked", view.revoked_at]);
  rows.push(["last used", view.last_used_at ?? "never"]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join("\n");
}

export function tokenTable(views: TokenView[]): string {
  return table(
    ["ID", "TYPE", "STATUS", "NAME", "PROJECT", "SCOPES/GRANTS", "EXPIRES", "LAST USED"],
    views.map((v) => [v.id, v.type, tokenStatus(v), v.name, v.project_id ?? "-", reach(v), v.expires_at ?? "never", v.last_used_at ?? "never"]),
  );
}

/** Who acted when no user or token did: the operator (admin token, CLI) or an anonymous client. */
function nobody(r: AuditRecord): string {
  return r.subject_type === "admin_token" ? "admin_token" : r.source === "cli" ? "operator" : "anonymous";
}

/** One audit record per line: time, decision, request, who, where from. */
export function auditLine(r: AuditRecord): string {
  const who = [r.user_id !== null ? `user=${r.user_id}` : null, r.token_id !== null ? `token=${r.token_id}` : null, r.user_id === null && r.token_id === null ? nobody(r) : null]
    .filter((s): s is string => s !== null)
    .join(" ");
  const upstream = r.upstream_status !== null ? ` upstream=${r.upstream_status}` : "";
  const reasons = r.reasons.length ? ` reasons=${r.reasons.join(",")}` : "";
  const action = r.action !== null ? ` action=${r.action}${r.target !== null ? ` target=${r.target}` : ""}` : "";
  const from = r.client_address !== null ? ` from=${r.client_address}` : "";
  const mcp = r.mcp !== null ? ` mcp=${r.mcp.method}${r.mcp.tool !== null ? ` tool=${r.mcp.tool}` : ""}${r.mcp.uri !== null ? ` uri=${r.mcp.uri}` : ""}` : "";
  return `${r.time.toISOString()}  ${r.allow ? "allow" : "deny "} ${r.status}  ${r.method} ${r.path}  ${who}  ${r.source} ${r.latency_ms}ms${upstream}${reasons}${mcp}${action}${from}`;
}
