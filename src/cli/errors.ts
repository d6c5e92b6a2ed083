// How the CLI reports failure: one plain line on stderr (`tollgate: <message>`) and an exit code,
// 2 for a usage or configuration mistake, 1 for anything that went wrong while running. The
// validation errors of the modules underneath (zod issues, RequestError, StoreValidationError)
// name a field of the admin API's body; the command translates that into the option at fault.
import { isUnavailable, RequestError } from "../errors.js";
import { DuplicateError, NotFoundError, StoreValidationError } from "../stores/types.js";

export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: typeof EXIT_RUNTIME | typeof EXIT_USAGE,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT_USAGE);
export const runtimeError = (message: string): CliError => new CliError(message, EXIT_RUNTIME);

/** Maps a body field ("grants.0.project_id") to what the user typed ("--grant p1"). */
export type FieldNamer = (field: string) => string;

/** "grants[0].project_id" (stores) and "grants.0.project_id" (zod, RequestError) alike. */
export function normalizeField(field: string): string {
  return field.replace(/\[(\d+)\]/g, ".$1");
}

/** "<field> must ..." or "<field>: ..." with the field replaced by the option; otherwise "<option>: <message>". */
function naming(field: string, message: string, name: FieldNamer): string {
  const option = name(normalizeField(field));
  for (const spelled of [field, normalizeField(field)]) {
    if (message.startsWith(`${spelled}: `) || message.startsWith(`${spelled} `)) return `${option}${message.slice(spelled.length)}`;
  }
  return `${option}: ${message}`;
}

interface IssueLike {
  path: ReadonlyArray<PropertyKey>;
  message: string;
}

/** A ZodError (classic or core) without loading zod on the --help path. */
function zodIssues(err: unknown): IssueLike[] | null {
  if (!(err instanceof Error) || !/ZodError$/.test(err.name)) return null;
  const issues = (err as { issues?: unknown }).issues;
  return Array.isArray(issues) && issues.length > 0 ? (issues as IssueLike[]) : null;
}

/** Any error as a CliError with a plain message; never a stack trace. */
export function explain(err: unknown, name: FieldNamer = (f) => f): CliError {
  if (err instanceof CliError) return err;
  const issues = zodIssues(err);
  if (issues) {
    const issue = issues[0]!;
    const field = issue.path.map(String).join(".");
    return usageError(field ? naming(field, issue.message, name) : issue.message);
  }
  if (err instanceof RequestError) {
    const message = err.field ? naming(err.field, err.message, name) : err.message;
    return new CliError(message, err.code === "invalid_request" ? EXIT_USAGE : EXIT_RUNTIME);
  }
  if (err instanceof StoreValidationError) return usageError(naming(err.field, err.reason, name));
  if (err instanceof NotFoundError) return runtimeError(`no ${err.entity} "${err.id}"`);
  if (err instanceof DuplicateError) return runtimeError(err.message);
  if (isUnavailable(err)) {
    const what = err.backend;
    const cause = err.cause instanceof Error ? err.cause.message : String(err.cause);
    return runtimeError(`cannot reach ${what === "mongodb" ? "MongoDB" : what}: ${cause}`);
  }
  return runtimeError(err instanceof Error ? err.message : String(err));
}

/**
 * For a command's own catch: names the option at fault in a validation error. An unavailable
 * backend goes on unchanged, for withContext to name the server.
 */
export function named(err: unknown, name: FieldNamer): unknown {
  return isUnavailable(err) ? err : explain(err, name);
}

/** The one line written to stderr: newlines folded so the message stays on one line. */
export function errorLine(message: string): string {
  return `tollgate: ${message.replace(/\s*\n\s*/g, " ").trim()}\n`;
}
