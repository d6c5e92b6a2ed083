import type { IncomingMessage, ServerResponse } from "node:http";
import { brotliDecompress, gunzip, inflate, type InputType, type ZlibOptions } from "node:zlib";
import { continueIfExpected } from "./server.js";

/** Why a JSON body could not be read. */
export type BodyFailure =
  /** Over the size cap (declared, received or decoded). */
  | "too_large"
  /** Not JSON, or (strict) not an object or array. */
  | "malformed"
  /** The bytes do not decode as their Content-Encoding. */
  | "undecodable"
  /** A Content-Encoding or charset Tollgate does not read. */
  | "unsupported"
  /** The client went away mid-body: nothing to answer. */
  | "aborted";

export type JsonBody = { ok: true; value: unknown } | { ok: false; failure: BodyFailure };

type Decoder = (buf: InputType, options: ZlibOptions, callback: (err: Error | null, result: Buffer) => void) => void;
const DECODERS: Record<string, Decoder> = { gzip: gunzip, deflate: inflate, br: brotliDecompress as Decoder };

/**
 * Reads a request's JSON body by hand, at most `limit` bytes (before and after decoding), and
 * parses it once. What Express's body parser accepted is accepted: identity, gzip, deflate and br;
 * a UTF-8 charset; an empty body reads as {}; only an object or array at the top (strict). A
 * client waiting for 100 Continue is told to send the body once it will be read.
 */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<JsonBody> {
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const decoder = encoding === "identity" ? null : DECODERS[encoding];
  if (decoder === undefined || !utf8Charset(req.headers["content-type"])) return { ok: false, failure: "unsupported" };

  const raw = await readBody(req, res, limit);
  if (!Buffer.isBuffer(raw)) return { ok: false, failure: raw };
  let bytes = raw;
  if (decoder) {
    const decoded = await new Promise<Buffer | BodyFailure>((resolve) =>
      decoder(raw, { maxOutputLength: limit }, (err, out) => resolve(err ? ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" ? "too_large" : "undecodable") : out)),
    );
    if (!Buffer.isBuffer(decoded)) return { ok: false, failure: decoded };
    bytes = decoded;
  }
  const text = bytes.toString("utf8");
  const first = /\S/.exec(text)?.[0];
  if (first === undefined) return { ok: true, value: {} };
  if (first !== "{" && first !== "[") return { ok: false, failure: "malformed" };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, failure: "malformed" };
  }
}

/** No charset, or a UTF-8 one. */
export function utf8Charset(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType);
  return match === null || /^utf-?8$/i.test(match[1]!);
}

/**
 * The body's bytes as received (no decoding), at most `limit` of them, or why they could not be
 * had. A declared length over `limit` is not read at all (a client waiting for 100 Continue is
 * not told to send it); past `limit` as it arrives, the rest is read and dropped.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer | "too_large" | "aborted"> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve("too_large");
  continueIfExpected(res);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (result: Buffer | "too_large" | "aborted"): void => {
      if (done) return;
      done = true;
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("aborted", onAborted);
      req.off("error", onAborted);
      // Past the cap the rest is read and dropped, so the answer can go out on this connection.
      if (!Buffer.isBuffer(result)) req.resume();
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) finish("too_large");
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    const onAborted = (): void => finish("aborted");
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("aborted", onAborted);
    req.on("error", onAborted);
  });
}

const BODY_PARSER_TYPES: Record<BodyFailure, { type: string; status: number }> = {
  too_large: { type: "entity.too.large", status: 413 },
  malformed: { type: "entity.parse.failed", status: 400 },
  undecodable: { type: "entity.undecodable", status: 400 },
  unsupported: { type: "encoding.unsupported", status: 415 },
  aborted: { type: "request.aborted", status: 400 },
};

/** The failure in the shape Express's body parser reports it, so one error mapping answers both. */
export function bodyError(failure: BodyFailure): { type: string; status: number; expose: true } {
  return { ...BODY_PARSER_TYPES[failure], expose: true };
}
