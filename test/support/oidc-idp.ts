// The organisation's identity provider for tests: oidc-provider (npm) in-process on a loopback
// port, with one confidential client (Tollgate) and an interaction that signs in whichever user
// the test names next, without forms, and grants openid at once.
import { createServer, type Server } from "node:http";
import Provider from "oidc-provider";
import { listen, stopServer } from "../gateway/helpers.js";

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The user the next sign-in signs in as. */
  signInAs(user: string): void;
  close(): Promise<void>;
}

export async function startIdp(redirectUri: string): Promise<TestIdp> {
  let provider: Provider | undefined;
  let nextUser = "bob";
  const server: Server = createServer((req, res) => {
    if (!provider) return void res.writeHead(503).end();
    if (req.url?.startsWith("/interaction/")) return void interact(provider, req, res).catch(() => res.writeHead(500).end());
    provider.callback()(req, res);
  });
  const issuer = await listen(server);
  const clientId = "tollgate";
  const clientSecret = "test-client-secret-0123456789";
  provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri], grant_types: ["authorization_code"], response_types: ["code"] }],
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ["test-cookie-key-0123456789"] },
  });
  const interact = async (p: Provider, req: Parameters<Provider["interactionDetails"]>[0], res: Parameters<Provider["interactionDetails"]>[1]): Promise<void> => {
    const details = await p.interactionDetails(req, res);
    if (details.prompt.name === "login") return void (await p.interactionFinished(req, res, { login: { accountId: nextUser } }));
    const grant = new p.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
    grant.addOIDCScope("openid");
    await p.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  };
  return {
    issuer,
    clientId,
    clientSecret,
    signInAs: (user) => void (nextUser = user),
    close: () => stopServer(server),
  };
}
