// Where the Client ID Metadata Document tests' clients keep their documents: an https server on
// 127.0.0.1 with the test CA's certificate (for localhost), serving whatever a test sets for a
// path and counting the fetches of each.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { stopServer } from "../gateway/helpers.js";
import { createTestHttpsServer } from "../support/test-ca.js";

export interface DocumentAnswer {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON. */
  body?: unknown;
  /** The answer waits for this (a fetch held in flight). */
  hold?: Promise<void>;
}

export interface DocumentServer {
  /** https://localhost:<port> */
  origin: string;
  url(path: string): string;
  set(path: string, answer: DocumentAnswer): void;
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startDocumentServer(): Promise<DocumentServer> {
  const answers = new Map<string, DocumentAnswer>();
  const hits = new Map<string, number>();
  const server: Server = createTestHttpsServer((req, res) => {
    const path = req.url ?? "/";
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const answer = answers.get(path);
    if (!answer) return void res.writeHead(404).end();
    const body = answer.body === undefined ? "" : typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
    const send = (): void => void res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...answer.headers }).end(body);
    if (answer.hold) void answer.hold.then(send);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path) => origin + path,
    set: (path, answer) => answers.set(path, answer),
    hits: (path) => hits.get(path) ?? 0,
    close: () => stopServer(server),
  };
}
