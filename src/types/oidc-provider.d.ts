// oidc-provider 9.x ships no types: what Tollgate uses of it (src/oauth/).
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  export type AdapterPayload = Record<string, unknown> & {
    jti?: string;
    grantId?: string;
    uid?: string;
    consumed?: number;
    exp?: number;
    iat?: number;
    accountId?: string;
    clientId?: string;
    scope?: string;
    aud?: string | string[];
  };

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface ClientMetadata {
    client_id: string;
    client_name?: string;
    client_uri?: string;
    redirect_uris?: string[];
    [key: string]: unknown;
  }

  export interface Client {
    clientId: string;
    clientName?: string;
    clientUri?: string;
    redirectUris: string[];
    metadata(): ClientMetadata;
  }

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, unknown> & { client_id?: string; redirect_uri?: string; scope?: string; resource?: string | string[] };
    session?: { accountId?: string };
    grantId?: string;
  }

  export interface InteractionResult {
    login?: { accountId: string };
    consent?: { grantId?: string };
    error?: string;
    error_description?: string;
  }

  export class Grant {
    constructor(init: { accountId: string; clientId: string; expiresIn?: number });
    jti: string;
    accountId: string;
    clientId: string;
    exp?: number;
    addOIDCScope(scope: string): void;
    rejectOIDCScope(scope: string): void;
    rejectResourceScope(resource: string, scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
    static find(id: string): Promise<Grant | undefined>;
  }

  export interface KoaContextLike {
    oidc: {
      entities: Record<string, unknown> & { Grant?: { exp?: number } };
      params?: Record<string, unknown>;
      client?: Client;
      route?: string;
    };
    ip?: string;
  }

  /** A token model's class; its prototype's generateTokenId() makes the value of each new token (public API, see panva/node-oidc-provider#93). */
  export interface TokenModel {
    prototype: { generateTokenId(this: object): string };
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    readonly issuer: string;
    proxy: boolean;
    Grant: typeof Grant;
    Client: { find(id: string): Promise<Client | undefined> };
    AccessToken: TokenModel;
    RefreshToken: TokenModel;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionResult(req: IncomingMessage, res: ServerResponse, result: InteractionResult, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: InteractionResult, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    on(event: string, listener: (...args: unknown[]) => void): this;
    /** Koa middleware around every request of callback(); errors are answered inside it, by each route's error handler. */
    use(middleware: (ctx: ProviderRequestContext, next: () => Promise<void>) => Promise<void>): this;
    /** The context of the request being handled (its AsyncLocalStorage), or undefined outside one. */
    static readonly ctx: ProviderRequestContext | undefined;
  }

  /** The Koa context as middleware sees it. */
  export interface ProviderRequestContext {
    req: IncomingMessage;
    status: number;
    path: string;
    method: string;
    set(field: string, value: string): void;
    response: { get(field: string): string };
  }

  class OIDCProviderError extends Error {
    constructor(description?: string, options?: string | { cause?: unknown });
    error: string;
    error_description?: string;
    status: number;
    statusCode: number;
  }

  export const errors: {
    OIDCProviderError: typeof OIDCProviderError;
    InvalidGrant: typeof OIDCProviderError;
    InvalidTarget: typeof OIDCProviderError;
    InvalidRequest: typeof OIDCProviderError;
    InvalidClientMetadata: typeof OIDCProviderError;
    /** Takes no description: set error_description on it. */
    InvalidRedirectUri: typeof OIDCProviderError;
    InvalidClient: typeof OIDCProviderError;
    AccessDenied: typeof OIDCProviderError;
    TemporarilyUnavailable: typeof OIDCProviderError;
  };
}
