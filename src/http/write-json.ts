import type { ServerResponse } from "node:http";

/** A JSON answer serialised once and sent in one write, with headers already set on `res` kept. */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) }).end(text);
}
