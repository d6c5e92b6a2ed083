// The value type and store contract of the dynamic-client-registration credentials Tollgate holds as
// an OAuth client of upstream authorization servers (issue 12 §2). Backends: memory (embedded
// default, tests) and Redis (production), behind this one interface.

/** What a registration is for: one authorization server, one redirect URI, one set of scopes. */
export interface DcrKey {
  readonly issuer: string;
  readonly redirectUri: string;
  /** scopesHash(scopes): canonical, order- and duplicate-insensitive. */
  readonly scopesHash: string;
}

export interface DcrCredentials {
  readonly key: DcrKey;
  readonly providerName: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly tokenEndpointAuthMethod: string;
  /** RFC 7592 client management. */
  readonly registrationAccessToken?: string;
  readonly registrationClientUri?: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch seconds as RFC 7591 gives it; 0 or absent means the secret never expires. */
  readonly clientSecretExpiresAt?: number;
}

export interface DcrCredentialStore {
  /** Throws DcrCredentialsNotFoundError on a miss. Returns a copy. */
  get(key: DcrKey): Promise<DcrCredentials>;
  /** Validates at the boundary (DcrCredentialsInvalidError), stores a copy, replaces what was there. */
  put(credentials: DcrCredentials): Promise<void>;
}

export class DcrCredentialsNotFoundError extends Error {
  override readonly name = "DcrCredentialsNotFoundError";
  constructor(readonly key: DcrKey) {
    super(`no registration stored for issuer ${key.issuer}`);
  }
}

export class DcrCredentialsInvalidError extends Error {
  override readonly name = "DcrCredentialsInvalidError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid registration credentials: ${problems.join("; ")}`);
  }
}
