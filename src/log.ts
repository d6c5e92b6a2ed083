import { pino, type DestinationStream, type Logger } from "pino";

/**
 * One structured logger for the process. Secrets never reach it: callers log ids and hashes only.
 * `destination` defaults to stdout (tests capture the lines).
 */
export function createLogger(level = process.env.TOLLGATE_LOG_LEVEL ?? "info", destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "tollgate" },
    redact: { paths: ["authorization", "*.authorization", "token", "*.token", "headers.authorization"], censor: "[redacted]" },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
