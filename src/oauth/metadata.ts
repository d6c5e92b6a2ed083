// RFC 8414 authorization server metadata, served at /.well-known/oauth-authorization-server.
import { OAUTH_ROUTES, SCOPES } from "./provider.js";

export function authorizationServerMetadata(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: issuer + OAUTH_ROUTES.authorization,
    token_endpoint: issuer + OAUTH_ROUTES.token,
    registration_endpoint: issuer + OAUTH_ROUTES.registration,
    revocation_endpoint: issuer + OAUTH_ROUTES.revocation,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    // Public clients: PKCE is their proof of possession; no client secrets.
    token_endpoint_auth_methods_supported: ["none"],
    revocation_endpoint_auth_methods_supported: ["none"],
    // A client_id that is an https URL is a Client ID Metadata Document (client-metadata-documents.ts).
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
    scopes_supported: [...SCOPES],
  };
}
