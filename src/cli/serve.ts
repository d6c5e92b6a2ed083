// tollgate serve: the server, exactly as src/main.ts runs it (same configuration, same exit codes
// and messages, same signal handling). src/main.ts starts the server when it is loaded; once it
// exports its `main` and starts only when it is the entry point, this calls that instead.
export async function serve(): Promise<void> {
  const entry = (await import("../main.js")) as { main?: () => Promise<void> };
  if (typeof entry.main === "function") await entry.main();
}
