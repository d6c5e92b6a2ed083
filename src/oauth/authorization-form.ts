// POST /oauth/authorize: OAuth 2.1 (§4.1.1) lets a client send the authorization request as a
// form-encoded POST. The form is read and checked here, then the request is handed to the
// provider as the GET it stands for (the parameters as its query): one pipeline, so exactly the
// checks a GET gets (client, redirect URI, PKCE, resource, scope, duplicates).
import type { IncomingMessage, ServerResponse } from "node:http";
import { writeError } from "../api/error-writer.js";
import { readBody } from "../http/json-body.js";

/** An authorization request is a few hundred bytes; a GET's URL is bounded by Node's 16 KiB of headers. */
export const AUTHORIZATION_FORM_MAX_BYTES = 16 * 1024;
const FORM_TYPE = "application/x-www-form-urlencoded";

/**
 * Reads the POSTed authorization request and turns `req` into the equivalent GET (true), or
 * answers why it cannot (false): 415 for another media type, charset or content coding; 413 past
 * AUTHORIZATION_FORM_MAX_BYTES; 400 for bytes that are not UTF-8 or a query string beside the body
 * (two places for one parameter). Errors here come before any client is known, so they are
 * Tollgate's error bodies, never a redirect.
 */
export async function authorizationFormAsGet(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const [type = "", ...params] = (req.headers["content-type"] ?? "").split(";");
  const charset = params.map((p) => /^\s*charset\s*=\s*"?([^"]*)"?\s*$/i.exec(p)?.[1]).find((c) => c !== undefined);
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (type.trim().toLowerCase() !== FORM_TYPE || (charset !== undefined && !/^utf-?8$/i.test(charset)) || encoding !== "identity") {
    writeError(res, { code: "unsupported_media_type", message: `send the authorization request as ${FORM_TYPE} (UTF-8, no content coding), or as a GET` });
    return false;
  }
  const [path, query] = splitTarget(req.url ?? "/");
  if (query !== "") {
    writeError(res, { code: "invalid_request", message: "a POSTed authorization request carries its parameters in the body only, not in the query" });
    return false;
  }
  const raw = await readBody(req, res, AUTHORIZATION_FORM_MAX_BYTES);
  if (raw === "aborted") return false;
  if (raw === "too_large") {
    writeError(res, { code: "body_too_large", message: `an authorization request is at most ${AUTHORIZATION_FORM_MAX_BYTES} bytes` });
    return false;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    writeError(res, { code: "invalid_encoding", message: "the authorization request is not UTF-8" });
    return false;
  }
  // Re-serialised, so the query the provider parses holds only what a form could say.
  const form = new URLSearchParams(text).toString();
  req.method = "GET";
  req.url = form === "" ? path : `${path}?${form}`;
  delete req.headers["content-type"];
  delete req.headers["content-length"];
  delete req.headers["transfer-encoding"];
  return true;
}

function splitTarget(target: string): [string, string] {
  const q = target.indexOf("?");
  return q < 0 ? [target, ""] : [target.slice(0, q), target.slice(q + 1)];
}
