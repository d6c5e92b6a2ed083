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

/**
 * The same logger (destination, level, base fields) without redaction, for lines whose fields are
 * fixed and can never hold a credential: the decision line (src/audit/decision-log.ts). pino's
 * redaction with wildcard paths costs several times the rest of such a line.
 */
export function withoutRedaction(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [] } });
}

export type { Logger };
