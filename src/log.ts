import { pino, type Logger } from "pino";

/** One structured logger for the process. Secrets never reach it: callers log ids and hashes only. */
export function createLogger(level = process.env.TOLLGATE_LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { service: "tollgate" },
    redact: { paths: ["authorization", "*.authorization", "token", "*.token", "headers.authorization"], censor: "[redacted]" },
  });
}

export type { Logger };
