// What a command reads and writes: its environment, stdout, stderr and interrupts. main.ts runs
// with the process's own; tests pass their own to run(). run() binds it for the command's
// duration (AsyncLocalStorage), so commands running side by side in one process keep theirs.
import { AsyncLocalStorage } from "node:async_hooks";

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Calls `stop` on an interrupt (Ctrl-C, SIGTERM); returns the function that stops listening. */
  onInterrupt(stop: () => void): () => void;
}

/** The process's: SIGINT and SIGTERM interrupt, and a second one ends the process at once (exit 130). */
export const processIo: CliIo = {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  onInterrupt(stop) {
    let interrupted = false;
    const onSignal = (): void => {
      if (interrupted) process.exit(130);
      interrupted = true;
      stop();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    return () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    };
  },
};

const current = new AsyncLocalStorage<CliIo>();

export function withIo<T>(io: CliIo, fn: () => T): T {
  return current.run(io, fn);
}

/** The I/O of the command running now; the process's outside run(). */
export function cliIo(): CliIo {
  return current.getStore() ?? processIo;
}
