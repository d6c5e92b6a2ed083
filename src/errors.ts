import { BackendUnavailableError } from "./stores/types.js";

/**
 * A dependency the decision needs (MongoDB, Redis, the JWKS endpoint) did not answer.
 * Decisions that need it fail closed with 503 `backend_unavailable`.
 */
export function isUnavailable(err: unknown): err is BackendUnavailableError {
  return err instanceof BackendUnavailableError;
}

/** Client errors of the HTTP API: a stable code, the field at fault, and the status. */
export class RequestError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "RequestError";
  }
}
