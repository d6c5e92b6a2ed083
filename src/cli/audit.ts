// tollgate audit tail: the newest audit records (AuditStore.query, as GET /v1/admin/audit), oldest
// of them first; with --follow, new ones as they arrive until SIGINT or SIGTERM.
import type { AuditFilter, AuditRecord, AuditStore } from "../audit/types.js";
import { isUnavailable } from "../errors.js";
import { viewAuditPage } from "../http/audit-routes.js";
import { withContext } from "./context.js";
import { named, type CliError, type FieldNamer } from "./errors.js";
import { cliIo } from "./io.js";
import { auditLine, note, print, printJsonLine } from "./output.js";
import { auditFilter } from "./schemas.js";

export interface TailOptions {
  user?: string;
  token?: string;
  source?: string;
  tool?: string;
  mcpMethod?: string;
  since?: string;
  limit: string;
  follow?: boolean;
  json?: boolean;
}

export const POLL_MS = 1_000;
/**
 * A record is stored a little after its time (the sink writes in batches; a gateway request is
 * recorded when it ends): each poll looks this far back and skips the records already shown.
 */
export const LATE_MS = 60_000;
/** Pages per poll at most (of up to 1000 records each). */
const MAX_PAGES = 20;

export const auditFields: FieldNamer = (field) =>
  ({ user_id: "--user", token_id: "--token", source: "--source", tool: "--tool", mcp_method: "--mcp-method", since: "--since", limit: "--limit" })[field] ?? field;

export async function tailAudit(opts: TailOptions): Promise<void> {
  let filter: AuditFilter;
  try {
    filter = auditFilter({
      ...(opts.user !== undefined ? { user_id: opts.user } : {}),
      ...(opts.token !== undefined ? { token_id: opts.token } : {}),
      ...(opts.source !== undefined ? { source: opts.source } : {}),
      ...(opts.tool !== undefined ? { tool: opts.tool } : {}),
      ...(opts.mcpMethod !== undefined ? { mcp_method: opts.mcpMethod } : {}),
      ...(opts.since !== undefined ? { since: opts.since } : {}),
      limit: opts.limit,
    });
  } catch (err) {
    throw named(err, auditFields);
  }
  const show = (r: AuditRecord): void => (opts.json ? printJsonLine(viewAuditPage({ records: [r], next_cursor: null }).records[0]) : print(auditLine(r)));

  await withContext(async ({ audit, explainUnavailable }) => {
    let before: AuditRecord[] = [];
    let page;
    try {
      // Read before the first page: a record that arrives in between is then in the page or
      // printed by a poll, never taken for one that was there before.
      if (opts.follow) before = await inWindow(audit, filter, Date.now());
      page = await audit.query(filter);
    } catch (err) {
      throw named(err, auditFields);
    }
    // Newest first from the store; a tail reads oldest first.
    for (const r of [...page.records].reverse()) show(r);
    if (page.records.length === 0 && !opts.json) note(opts.follow ? "no audit records yet; waiting for new ones" : "no audit records");
    if (!opts.follow) return;
    // What was there before counts as shown, whether or not it fit in --limit.
    await follow(audit, filter, [...before, ...page.records], show, explainUnavailable);
  });
}

/** Where a poll at `now` looks: LATE_MS back, not before --since. */
const windowStart = (filter: AuditFilter, now: number): number => Math.max(filter.since?.getTime() ?? 0, now - LATE_MS);

/** The records matching `filter` in the window of a poll at `now` (up to MAX_PAGES pages). */
async function inWindow(audit: AuditStore, filter: AuditFilter, now: number): Promise<AuditRecord[]> {
  const { limit: _limit, cursor: _cursor, since: _since, ...match } = filter;
  const found: AuditRecord[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const page = await audit.query({ ...match, since: new Date(windowStart(filter, now)), limit: 1000, ...(cursor ? { cursor } : {}) });
    found.push(...page.records);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return found;
}

/** Polls every POLL_MS for records not shown yet, until interrupted. */
async function follow(
  audit: AuditStore,
  filter: AuditFilter,
  shown: AuditRecord[],
  show: (r: AuditRecord) => void,
  explainUnavailable: (err: unknown) => CliError,
): Promise<void> {
  // decision_id → time of the records in the window that were shown already, or were there
  // before following started.
  const seen = new Map<string, number>();
  const remember = (r: AuditRecord) => seen.set(r.decision_id, r.time.getTime());
  for (const r of shown) remember(r);

  let stopped = false;
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
    wake?.();
  };
  let outage = false;
  const stopListening = cliIo().onInterrupt(stop);
  try {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, POLL_MS);
      });
      if (stopped) break;
      const now = Date.now();
      let records: AuditRecord[];
      try {
        records = (await inWindow(audit, filter, now)).filter((r) => !seen.has(r.decision_id));
      } catch (err) {
        // A following tail rides out an outage; it says so once.
        if (!isUnavailable(err)) throw named(err, auditFields);
        if (!outage) note(`${explainUnavailable(err).message}; still trying`);
        outage = true;
        continue;
      }
      if (outage) note("reconnected");
      outage = false;
      records.sort((a, b) => a.time.getTime() - b.time.getTime() || (a.decision_id < b.decision_id ? -1 : 1));
      for (const r of records) {
        remember(r);
        show(r);
      }
      // Forget what the next poll's window no longer reaches.
      const since = windowStart(filter, now);
      for (const [decisionId, time] of seen) if (time < since) seen.delete(decisionId);
    }
  } finally {
    stopListening();
  }
}
