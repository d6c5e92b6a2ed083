#!/usr/bin/env node
// The `tollgate` command (package.json "bin"): see program.ts for the commands, docs/cli.md for a guide.
import { errorLine } from "./errors.js";
import { run } from "./program.js";

// A closed stdout (`tollgate audit tail -f | head`) ends the command quietly.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") process.stderr.write(errorLine(`cannot write the output: ${err.message}`));
  process.exit(err.code === "EPIPE" ? 0 : 1);
});

const exitCode = await run(process.argv.slice(2));
if (exitCode !== null) {
  process.exitCode = exitCode;
  // Everything is closed by now and the process ends by itself; should a stray handle keep it
  // alive, it still ends (this timer does not keep it alive on its own).
  setTimeout(() => process.exit(exitCode), 3_000).unref();
}
