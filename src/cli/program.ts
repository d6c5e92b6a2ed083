// The `tollgate` command line: every command, its options and its help. The implementations are
// loaded only when a command runs, so --help and usage errors answer without loading the server.
import { Argument, Command, CommanderError, Option } from "commander";
import { AUDIT_QUERY_MAX_LIMIT, AUDIT_SOURCES } from "../audit/types.js";
import { packageVersion } from "../package-root.js";
import { COLLABORATOR_ROLES, SCOPES, STORED_TOKEN_KINDS } from "../stores/types.js";
import { errorLine, EXIT_USAGE, explain } from "./errors.js";
import { cliIo, processIo, withIo, type CliIo } from "./io.js";

const DATABASE_HELP = `
Acts on the database of a Tollgate deployment, configured by the same environment variables as
the server: MONGODB_URI (required) and MONGODB_DB (default "tollgate"). See docs/cli.md.`;

const ROOT_HELP = `
Environment:
  tollgate serve reads the server's configuration (PORT, HOST, MONGODB_URI, REDIS_URL,
  TOLLGATE_* ...; see docs/configuration.md). The other commands act on the stores of a running
  deployment and need MONGODB_URI (and MONGODB_DB when it is not "tollgate"); with REDIS_URL or
  TOLLGATE_REDIS_CLUSTER_NODES they announce their changes to the running replicas.

Exit codes: 0 done, 1 failed while running, 2 usage or configuration error.
Every command takes --help; the admin commands take --json for machine-readable output.`;

/** Each line one example, shown under "Examples:". */
function examples(...lines: string[]): string {
  return `\n\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}`;
}

/** Repeatable option: collects every occurrence. */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const jsonOption = (what: string): Option => new Option("--json", `print ${what} as JSON`);

export interface Outcome {
  /** The process exit code, or null when a server was started and keeps running. */
  exitCode: number | null;
}

export function buildProgram(outcome: Outcome): Command {
  const program = new Command("tollgate")
    .description("Tollgate, the policy-engine authorizer: run the server, manage tokens and collaborators, read the audit trail.")
    .version(packageVersion(), "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => cliIo().stdout.write(text),
      writeErr: (text) => cliIo().stderr.write(text),
      outputError: (message, write) => write(errorLine(message.replace(/^error: /, ""))),
    })
    .showSuggestionAfterError(true)
    .addHelpText("after", ROOT_HELP);

  program
    .command("serve")
    .description("run the Tollgate server (as `npm start` does), configured by the environment")
    .addHelpText("after", `\nSee docs/configuration.md for every variable.${examples("PORT=8181 MONGODB_URI=mongodb://localhost:27017 REDIS_URL=redis://localhost:6379 tollgate serve", "tollgate serve    # development: in-memory stores and demo data")}`)
    .action(async () => {
      outcome.exitCode = null;
      const { serve } = await import("./serve.js");
      await serve(cliIo().env);
    });

  // ------------------------------------------------------------------------------ token
  const token = program
    .command("token")
    .description("create, list and revoke API and MCP tokens")
    .addHelpText("after", DATABASE_HELP);

  token
    .command("create")
    .description("create a token and print its value (shown this once only) and its details")
    .addOption(new Option("--type <type>", "kind of token").choices(STORED_TOKEN_KINDS).makeOptionMandatory())
    .option("--user <user>", "owner (global and mcp tokens)")
    .option("--project <project>", "the project (project tokens)")
    .addOption(repeatable(new Option("--scope <scope>", "a scope of global and project tokens, repeatable (default read)").choices(SCOPES)))
    .option("--grant <grant>", "a project an mcp token may reach: PROJECT[:trigger][@TIME], repeatable", collect)
    .option("--expires <time>", "expiry, ISO 8601 with a timezone (default: never)")
    .option("--name <name>", 'display name, 1-100 characters (default "<type> token")')
    .addOption(jsonOption("the token and its value"))
    .addHelpText(
      "after",
      `${DATABASE_HELP}${examples(
        "tollgate token create --type global --user alice --scope read --scope write --name 'CI'",
        "tollgate token create --type project --project demo-private --expires 2027-01-01T00:00:00Z",
        "tollgate token create --type mcp --user bob --grant demo-private:trigger --grant demo-public@2027-06-30T00:00:00Z",
      )}`,
    )
    .action(async (opts) => {
      const { createToken } = await import("./token.js");
      await createToken(opts);
    });

  token
    .command("list")
    .description("list a user's tokens, newest first (never their values)")
    .requiredOption("--user <user>", "the owner")
    .addOption(jsonOption("the tokens"))
    .addHelpText("after", `${DATABASE_HELP}${examples("tollgate token list --user alice", "tollgate token list --user alice --json | jq -r '.[] | select(.revoked_at == null) | .id'")}`)
    .action(async (opts) => {
      const { listTokens } = await import("./token.js");
      await listTokens(opts);
    });

  token
    .command("revoke")
    .description("revoke a token by id (idempotent: keeps the first revocation time)")
    .argument("<id>", "the token's id, e.g. tok_...")
    .addOption(jsonOption("the revoked token"))
    .addHelpText("after", `${DATABASE_HELP}${examples("tollgate token revoke tok_0123456789abcdefghij")}`)
    .action(async (id: string, opts) => {
      const { revokeToken } = await import("./token.js");
      await revokeToken(id, opts);
    });

  // ------------------------------------------------------------------------------ collaborator
  const collaborator = program
    .command("collaborator")
    .description("give users a role in a project, or take it away")
    .addHelpText("after", DATABASE_HELP);

  collaborator
    .command("set")
    .description("make USER a collaborator of PROJECT with ROLE (or change the role)")
    .argument("<project>", "the project's id (the project must exist)")
    .argument("<user>", "the user's id")
    .addArgument(new Argument("<role>", "the role").choices(COLLABORATOR_ROLES))
    .addOption(jsonOption("the collaborator"))
    .addHelpText("after", `${DATABASE_HELP}${examples("tollgate collaborator set demo-private bob Developer")}`)
    .action(async (project: string, user: string, role: string, opts) => {
      const { setCollaborator } = await import("./collaborator.js");
      await setCollaborator(project, user, role, opts);
    });

  collaborator
    .command("remove")
    .description("remove USER from PROJECT's collaborators")
    .argument("<project>", "the project's id")
    .argument("<user>", "the user's id")
    .addOption(jsonOption("the result"))
    .addHelpText("after", `${DATABASE_HELP}${examples("tollgate collaborator remove demo-private bob")}`)
    .action(async (project: string, user: string, opts) => {
      const { removeCollaborator } = await import("./collaborator.js");
      await removeCollaborator(project, user, opts);
    });

  // ------------------------------------------------------------------------------ audit
  const audit = program
    .command("audit")
    .description("read the audit trail: one record per decision and per admin change")
    .addHelpText("after", DATABASE_HELP);

  audit
    .command("tail")
    .description("print the newest audit records, oldest first; --follow keeps printing new ones until interrupted")
    .option("--user <user>", "only this user's requests")
    .option("--token <id>", "only requests made with this token")
    .option("--source <source>", `only records from this source: ${AUDIT_SOURCES.join(", ")}`)
    .option("--tool <name>", "only MCP messages calling this tool (tools/call)")
    .option("--mcp-method <method>", "only MCP messages of this JSON-RPC method, e.g. tools/call")
    .option("--since <time>", "only records at or after this time, ISO 8601 with a timezone")
    .option("--limit <n>", `how many records to print first, 1-${AUDIT_QUERY_MAX_LIMIT}`, "20")
    .option("-f, --follow", "keep polling (every second) for new records until Ctrl-C")
    .addOption(new Option("--json", "print each record as JSON, one object per line"))
    .addHelpText(
      "after",
      `${DATABASE_HELP}${examples(
        "tollgate audit tail --user alice --limit 50",
        "tollgate audit tail --token tok_0123456789abcdefghij --since 2026-05-01T00:00:00Z",
        "tollgate audit tail --source admin --limit 100",
        "tollgate audit tail --tool trigger_build --since 2026-05-01T00:00:00Z",
        "tollgate audit tail --follow --json | jq 'select(.allow == false)'",
      )}`,
    )
    .action(async (opts) => {
      const { tailAudit } = await import("./audit.js");
      await tailAudit(opts);
    });

  return program;
}

/** An option with choices that may be given more than once: commander's check, then collected. */
function repeatable(option: Option): Option {
  const check = option.parseArg;
  return option.argParser((value: string, previous: string[] | undefined) => collect(check ? (check.call(option, value, undefined) as string) : value, previous));
}

/**
 * Runs the command line with `io` (the process's own by default); resolves to the exit code
 * (null: a server is running). Never throws.
 */
export function run(argv: string[], io: CliIo = processIo): Promise<number | null> {
  return withIo(io, async () => {
    const outcome: Outcome = { exitCode: 0 };
    try {
      await buildProgram(outcome).parseAsync(argv, { from: "user" });
      return outcome.exitCode;
    } catch (err) {
      // Commander has already printed its message (or the help).
      if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
      const failure = explain(err);
      io.stderr.write(errorLine(failure.message));
      return failure.exitCode;
    }
  });
}
