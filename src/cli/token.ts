// tollgate token create | list | revoke: TokenIssuer and the token store, as the admin API uses them.
import { adminChange } from "../audit/admin.js";
import { viewToken } from "../issuing/token-issuer.js";
import { withContext } from "./context.js";
import { named, runtimeError, usageError, type FieldNamer } from "./errors.js";
import { note, print, printJson, tokenDetails, tokenTable } from "./output.js";
import { tokenRequest, type TokenBody } from "./schemas.js";

export interface CreateOptions {
  type: string;
  user?: string;
  project?: string;
  scope?: string[];
  grant?: string[];
  expires?: string;
  name?: string;
  json?: boolean;
}

/** The admin API's body field → the option that sets it; a grant is named by what was typed. */
export function tokenFields(grants: string[]): FieldNamer {
  return (field) => {
    const [head, index] = field.split(".");
    switch (head) {
      case "type":
        return "--type";
      case "name":
        return "--name";
      case "user_id":
        return "--user";
      case "project_id":
        return "--project";
      case "scopes":
        return "--scope";
      case "expires_at":
        return "--expires";
      case "grants": {
        const typed = index !== undefined ? grants[Number(index)] : undefined;
        return typed !== undefined ? `--grant ${typed}` : "--grant";
      }
      default:
        return field;
    }
  };
}

const GRANT_FORMAT = "PROJECT[:trigger][@TIME]";

/** "p1", "p1:trigger", "p1@2027-01-01T00:00:00Z", "p1:trigger@2027-01-01T00:00:00Z". */
export function parseGrant(typed: string): NonNullable<TokenBody["grants"]>[number] {
  const at = typed.indexOf("@");
  const head = at === -1 ? typed : typed.slice(0, at);
  const [project, ...flags] = head.split(":");
  if (!project || flags.some((f) => f !== "trigger") || flags.length > 1 || (at !== -1 && at === typed.length - 1)) {
    throw usageError(`--grant ${typed}: expected ${GRANT_FORMAT}, e.g. demo-private:trigger@2027-01-01T00:00:00Z`);
  }
  return {
    project_id: project,
    allow_trigger: flags.length === 1,
    ...(at !== -1 ? { expires_at: typed.slice(at + 1) } : {}),
  };
}

export function tokenBody(opts: CreateOptions): TokenBody {
  const body: TokenBody = { type: opts.type };
  if (opts.name !== undefined) body.name = opts.name;
  if (opts.user !== undefined) body.user_id = opts.user;
  if (opts.project !== undefined) body.project_id = opts.project;
  if (opts.scope !== undefined) body.scopes = opts.scope;
  if (opts.grant !== undefined) body.grants = opts.grant.map(parseGrant);
  if (opts.expires !== undefined) body.expires_at = opts.expires;
  return body;
}

export async function createToken(opts: CreateOptions): Promise<void> {
  const names = tokenFields(opts.grant ?? []);
  let request;
  try {
    request = tokenRequest(tokenBody(opts));
  } catch (err) {
    throw named(err, names);
  }
  await withContext(async ({ issuer, audited }) => {
    let issued;
    try {
      issued = await issuer.issueForOperator(request);
    } catch (err) {
      throw named(err, names);
    }
    audited(adminChange.tokenIssue(issued.record.id));
    const view = viewToken(issued.record);
    note("the token value is shown only this once: store it now (Tollgate keeps only its hash)");
    if (opts.json) printJson({ ...view, token: issued.token });
    else print(tokenDetails(view, issued.token));
  });
}

export async function listTokens(opts: { user: string; json?: boolean }): Promise<void> {
  await withContext(async ({ facts }) => {
    const views = (await facts.tokenStore.listByUser(opts.user)).map(viewToken);
    if (opts.json) printJson(views);
    else if (views.length === 0) note(`no tokens for user "${opts.user}" (project tokens belong to a project, not a user)`);
    else print(tokenTable(views));
  });
}

export async function revokeToken(id: string, opts: { json?: boolean }): Promise<void> {
  await withContext(async ({ issuer, audited }) => {
    const record = await issuer.revoke(id);
    if (!record) throw runtimeError(`no token "${id}"`);
    audited(adminChange.tokenRevoke(record.id));
    const view = viewToken(record);
    if (opts.json) printJson(view);
    else print(`revoked ${view.id} (${view.name}) at ${view.revoked_at}${view.client ? ", with its OAuth grant (refresh tokens and every access token)" : ""}`);
  });
}
