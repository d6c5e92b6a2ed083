import { MongoError } from "mongodb";
import { BackendUnavailableError, DuplicateError, StoreError } from "../types.js";

const DUPLICATE_KEY = 11000;

function isMongoError(e: unknown): e is MongoError {
  // The name check also catches driver errors from a second copy of the package.
  return e instanceof MongoError || (e instanceof Error && e.name.startsWith("Mongo"));
}

/** The unique key that was violated, when the server says (MongoDB does, FerretDB 1.x does not). */
function duplicateField(e: MongoError): string | undefined {
  const keyPattern = (e as { keyPattern?: unknown }).keyPattern;
  if (keyPattern && typeof keyPattern === "object") {
    const keys = Object.keys(keyPattern);
    if (keys.length > 0) return keys.join(",");
  }
  return undefined;
}

export function isDuplicateKey(e: unknown): boolean {
  return isMongoError(e) && (e as { code?: unknown }).code === DUPLICATE_KEY;
}

/**
 * Store errors pass through; a duplicate key becomes DuplicateError; every other driver or
 * server error (refused, closed, timed out, selection failed, server-side failure) becomes
 * BackendUnavailableError. Anything else is a bug and is rethrown untouched.
 */
export function toStoreError(e: unknown, entity: string): unknown {
  if (e instanceof StoreError) return e;
  if (isMongoError(e)) {
    if (isDuplicateKey(e)) return new DuplicateError(entity, duplicateField(e));
    return new BackendUnavailableError("mongodb", e);
  }
  // The driver sometimes lets a socket error through untranslated when the server goes away.
  if (e instanceof Error && NETWORK_ERROR_CODES.has(String((e as NodeJS.ErrnoException).code))) {
    return new BackendUnavailableError("mongodb", e);
  }
  return e;
}

const NETWORK_ERROR_CODES = new Set([
  "EPIPE",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ENOTCONN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
]);

/** Runs one store operation, translating its errors with toStoreError. */
export async function guard<T>(entity: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw toStoreError(e, entity);
  }
}
