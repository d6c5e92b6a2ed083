// The authorization server's routes on the public port: its RFC 8414 metadata, the provider's
// endpoints under /oauth/, and the consent page.
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import { authorizationServerMetadata } from "./metadata.js";

export const METADATA_PATH = "/.well-known/oauth-authorization-server";

export interface OAuthEndpoints {
  /** Whether this path (as received) is one of the authorization server's. */
  handles(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

export function oauthEndpoints(options: { issuer: string; provider: Provider; consent: (req: IncomingMessage, res: ServerResponse) => Promise<void>; onError: (err: unknown, req: IncomingMessage, res: ServerResponse) => void }): OAuthEndpoints {
  const metadata = JSON.stringify(authorizationServerMetadata(options.issuer));
  const providerListener = options.provider.callback();
  return {
    handles: (path) => path === METADATA_PATH || path.startsWith("/oauth/") || path === "/ui/consent",
    handle(req, res) {
      const path = (req.url ?? "/").split("?")[0]!;
      if (path === METADATA_PATH) {
        if (req.method !== "GET" && req.method !== "HEAD") {
          res.writeHead(405, { allow: "GET, HEAD" }).end();
          return;
        }
        res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600", "access-control-allow-origin": "*", "content-length": Buffer.byteLength(metadata) });
        res.end(req.method === "HEAD" ? undefined : metadata);
        return;
      }
      if (path === "/ui/consent") {
        options.consent(req, res).catch((err: unknown) => options.onError(err, req, res));
        return;
      }
      providerListener(req, res);
    },
  };
}
