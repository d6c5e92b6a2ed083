// A real nginx (the Debian package) for end-to-end tests of docs/nginx/tollgate.conf, an echo
// upstream standing in for the protected API, and a raw HTTP client (fetch would normalize "..").
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest, createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from "node:http";
import { createConnection, createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The shipped example; the tests run it with only the addresses changed. */
export const SHIPPED_NGINX_CONF = fileURLToPath(new URL("../../docs/nginx/tollgate.conf", import.meta.url));

/** Generous: a loaded machine starts nginx slowly; an nginx that exits ends the wait at once. */
const STARTUP_TIMEOUT_MS = 90_000;
/** Bound of one raw request (send): generous, a loaded machine answers slowly. */
const REQUEST_TIMEOUT_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------- nginx binary

/**
 * NGINX_BIN, else `nginx` on PATH, else /usr/sbin/nginx (Debian puts it there, and a non-root
 * PATH often lacks /usr/sbin). Throws, never skips: the nginx tests are part of the suite.
 */
export function findNginx(): string {
  const candidates = process.env.NGINX_BIN
    ? [process.env.NGINX_BIN]
    : [...(process.env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, "nginx")), "/usr/sbin/nginx"];
  const bin = candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!bin) {
    throw new Error(
      process.env.NGINX_BIN
        ? `NGINX_BIN=${process.env.NGINX_BIN} is not an executable (unset it to use nginx from PATH, which \`make tools\` installs)`
        : "nginx not found on PATH (nor at /usr/sbin/nginx): run `make tools` (installs the Debian `nginx` package), or set NGINX_BIN",
    );
  }
  const version = spawnSync(bin, ["-V"], { encoding: "utf8", timeout: 30_000 });
  const info = `${version.stdout ?? ""}${version.stderr ?? ""}`;
  if (version.status !== 0) throw new Error(`${bin} -V failed (status ${version.status}): ${info || version.error?.message}`);
  if (!info.includes("--with-http_auth_request_module")) {
    throw new Error(`${bin} was built without ngx_http_auth_request_module (see \`${bin} -V\`); install Debian's \`nginx\` package (\`make tools\`)`);
  }
  return bin;
}

// ---------------------------------------------------------------------------- config

export interface ConfAddresses {
  listenPort: number;
  tollgatePort: number;
  upstreamPort: number;
}

/**
 * The shipped config with its three ADJUST addresses pointed at the test's servers. Each must
 * match exactly once, so an edit of the example that the test cannot follow fails loudly.
 */
export function renderConf(source: string, a: ConfAddresses): string {
  const replace = (text: string, pattern: RegExp, replacement: string, what: string): string => {
    const matches = text.match(new RegExp(pattern.source, `${pattern.flags}g`)) ?? [];
    if (matches.length !== 1) throw new Error(`${SHIPPED_NGINX_CONF}: expected exactly one ${what} line, found ${matches.length}`);
    return text.replace(pattern, replacement);
  };
  let conf = source;
  conf = replace(conf, /^(\s*)server\s+\S+;(\s*# ADJUST: Tollgate\b.*)$/m, `$1server 127.0.0.1:${a.tollgatePort};$2`, "Tollgate `server ...; # ADJUST: Tollgate`");
  conf = replace(conf, /^(\s*)server\s+\S+;(\s*# ADJUST: the API\b.*)$/m, `$1server 127.0.0.1:${a.upstreamPort};$2`, "API `server ...; # ADJUST: the API`");
  conf = replace(conf, /^(\s*)listen\s+[^;]+;(\s*# ADJUST: where clients\b.*)$/m, `$1listen 127.0.0.1:${a.listenPort};$2`, "`listen ...; # ADJUST: where clients`");
  return conf;
}

/**
 * A main config around the http-context example; every path nginx writes is inside `dir`. A
 * second server on `uriProbePort` answers with nginx's $uri, to show what nginx makes of a path.
 */
function mainConf(dir: string, uriProbePort: number): string {
  return [
    "worker_processes 1;",
    "events { worker_connections 256; }",
    "http {",
    `    access_log ${join(dir, "access.log")};`,
    `    client_body_temp_path ${join(dir, "client_body")};`,
    `    proxy_temp_path ${join(dir, "proxy")};`,
    `    fastcgi_temp_path ${join(dir, "fastcgi")};`,
    `    uwsgi_temp_path ${join(dir, "uwsgi")};`,
    `    scgi_temp_path ${join(dir, "scgi")};`,
    `    include ${join(dir, "tollgate.conf")};`,
    `    server { listen 127.0.0.1:${uriProbePort}; location / { default_type text/plain; return 200 $uri; } }`,
    "}",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------- nginx process

export interface NginxServer {
  port: number;
  /** Answers every request with nginx's $uri for it (decoded, normalized). */
  uriProbePort: number;
  dir: string;
  /** The rendered tollgate.conf nginx runs. */
  conf: string;
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // SIGTERM, not SIGKILL: the master then stops its worker, even after this process is gone.
  process.on("exit", () => {
    for (const child of children) child.kill("SIGTERM");
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts nginx with the shipped config on a free loopback port, in a fresh temp dir. A port taken
 * meanwhile (another test run on this machine) makes nginx exit: then it is tried with others.
 */
export async function startNginx(addresses: { tollgatePort: number; upstreamPort: number }): Promise<NginxServer> {
  const bin = findNginx();
  const source = await readFile(SHIPPED_NGINX_CONF, "utf8");
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const listenPort = await freePort();
    const uriProbePort = await freePort();
    try {
      return await startOnce(bin, renderConf(source, { ...addresses, listenPort }), listenPort, uriProbePort);
    } catch (e) {
      last = e;
      if (!/Address already in use/i.test((e as Error).message)) throw e;
    }
  }
  throw last;
}

async function startOnce(bin: string, conf: string, port: number, uriProbePort: number): Promise<NginxServer> {
  const dir = await mkdtemp(join(tmpdir(), "tollgate-nginx-"));
  // Run as root, nginx's worker is "nobody": it must be able to reach the temp paths.
  await chmod(dir, 0o755);
  const errorLogPath = join(dir, "error.log");
  await writeFile(join(dir, "tollgate.conf"), conf);
  await writeFile(join(dir, "nginx.conf"), mainConf(dir, uriProbePort));
  const args = [
    "-p",
    `${dir}/`,
    "-c",
    join(dir, "nginx.conf"),
    "-e",
    errorLogPath,
    "-g",
    `daemon off; pid ${join(dir, "nginx.pid")}; error_log ${errorLogPath} info;`,
  ];

  installExitHook();
  const child = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let output = "";
  const collect = (chunk: Buffer) => (output = (output + chunk.toString("utf8")).slice(-8_192));
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      children.delete(child);
      resolve();
    });
    child.once("error", (err) => {
      output += `\n${err.message}`;
      exitCode = -1;
      children.delete(child);
      resolve();
    });
  });
  const errorLog = () => readFile(errorLogPath, "utf8").catch(() => "");

  const stop = async () => {
    if (exitCode === undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  // nginx writes its pid file once every listening socket is bound: then the ports are ours.
  const pidFile = join(dir, "nginx.pid");
  const bound = async () => (await readFile(pidFile, "utf8").catch(() => "")).trim() === String(child.pid);
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (exitCode !== undefined) {
      const details = `${output}\n${await errorLog()}`.trim();
      await rm(dir, { recursive: true, force: true });
      throw new Error(`nginx exited during startup (code ${exitCode}): ${bin} ${args.join(" ")}\n${details}`);
    }
    if ((await bound()) && (await tcpOpen(port)) && (await tcpOpen(uriProbePort))) break;
    if (Date.now() > deadline) {
      const details = `${output}\n${await errorLog()}`.trim();
      await stop();
      throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${STARTUP_TIMEOUT_MS / 1000} s\n${details}`);
    }
    await sleep(50);
  }
  return { port, uriProbePort, dir, conf, errorLog, stop };
}

// ---------------------------------------------------------------------------- echo upstream

export interface EchoedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface EchoUpstream {
  port: number;
  /** Every request that reached the upstream, in order. */
  requests: EchoedRequest[];
  stop(): Promise<void>;
}

/** Answers every request with 200 and the method, URL, headers and body it received as JSON. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const requests: EchoedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const echoed = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(echoed);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(echoed));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------- raw client

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with the target sent byte for byte (no URL normalization), bounded to REQUEST_TIMEOUT_MS. */
export function send(port: number, method: string, path: string, headers: OutgoingHttpHeaders = {}, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on("error", reject);
    req.end(body);
  });
}
