// The organisation's identity provider for tests: oidc-provider (npm) in-process on a loopback
// port, with one confidential client (Tollgate) and an interaction that signs in whichever user
// the test names next, without forms, and grants openid at once.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { listen, stopServer } from "../gateway/helpers.js";

/** The little of oidc-provider's API used here (the package ships no types; the oauth work may add them). */
interface Provider {
  callback(): RequestListener;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ prompt: { name: string }; session?: { accountId: string }; params: Record<string, unknown> }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: object, options?: object): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
}
type ProviderClass = new (issuer: string, configuration: object) => Provider;
const PACKAGE = "oidc-provider";

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
  const { default: Provider } = (await import(PACKAGE)) as { default: ProviderClass };
  const clientId = "tollgate";
  const clientSecret = "test-client-secret-0123456789";
  provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri], grant_types: ["authorization_code"], response_types: ["code"] }],
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ["test-cookie-key-0123456789"] },
  });
  const interact = async (p: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const details = await p.interactionDetails(req, res);
    if (details.prompt.name === "login") return void (await p.interactionFinished(req, res, { login: { accountId: nextUser } }));
    const grant = new p.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
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
