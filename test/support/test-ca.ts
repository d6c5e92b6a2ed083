// A throwaway certificate authority and a server certificate for 127.0.0.1, ::1 and localhost,
// made with Debian's `openssl` CLI into a temporary directory, so tests run real https servers
// on loopback. In-process clients trust it through a `ca` option; spawned processes through
// NODE_EXTRA_CA_CERTS=<caFile>.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerOptions } from "node:https";
import type { RequestListener } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  /** The CA certificate (PEM). */
  ca: string;
  /** Its file, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  /** The server's certificate (for 127.0.0.1, ::1, localhost) and key (PEM). */
  cert: string;
  key: string;
}

let made: TestCa | undefined;

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** The process's test CA, made on first use; the directory is removed when the process exits. */
export function testCa(): TestCa {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), "tollgate-test-ca-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Tollgate test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  writeFileSync(join(dir, "server.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n");
  openssl(dir, ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"]);
  const read = (name: string): string => readFileSync(join(dir, name), "utf8");
  made = { ca: read("ca.pem"), caFile: join(dir, "ca.pem"), cert: read("server.pem"), key: read("server.key") };
  return made;
}

/** An https server with the test CA's server certificate (not listening yet). */
export function createTestHttpsServer(listener: RequestListener, options: ServerOptions = {}): Server {
  const { cert, key } = testCa();
  return createServer({ cert, key, ...options }, listener);
}
