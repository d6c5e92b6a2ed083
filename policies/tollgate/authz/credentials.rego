# Credential checks
#
# The credential stage (401). A credential that is present but bad is never treated as
# anonymous, whatever the project's visibility.
package tollgate.authz

_credential_status := object.get(input, ["credential", "status"], "none")

# The credential statuses that are a denial in themselves.
_status_denial("invalid") := "invalid_token"

_status_denial("expired") := "expired_token"

_status_denial("revoked") := "revoked_token"

_credential_denials contains "missing_token" if {
	_credential_status == "none"
	not _anonymous_allowed
}

_credential_denials contains _status_denial(_credential_status)

# Any status this policy does not know is a bad credential, not an absent one.
_credential_denials contains "invalid_token" if {
	not _credential_status in {"none", "valid", "invalid", "expired", "revoked"}
}

_credential_denials contains "invalid_token" if {
	_credential_status == "valid"
	not _well_formed_subject
}

_credential_denials contains "expired_token" if {
	_credential_status == "valid"
	_well_formed_subject
	is_number(input.subject.expires_at)
	input.subject.expires_at <= input.now
}

# An MCP token issued by the OAuth authorization server is bound to the one resource it was
# issued for (RFC 8707): the MCP endpoint of its project (subject.oauth.project_id). Anywhere
# else, and with a binding that is not well formed, it is not a credential.
_credential_denials contains "invalid_token" if {
	_credential_status == "valid"
	_well_formed_subject
	input.subject.type == "mcp_token"
	_has_oauth_binding
	not _on_oauth_resource
}

# Whatever its value: a binding that is null or false is malformed, never absent.
_has_oauth_binding if {
	some key, _ in input.subject
	key == "oauth"
}

_on_oauth_resource if {
	_matched_pattern_or_null == "/api/v1/mcp/projects/{project}/mcp"
	is_string(input.subject.oauth.client_id)
	is_string(input.subject.oauth.project_id)
	route_params.project == input.subject.oauth.project_id
}

_authenticated if {
	_credential_status == "valid"
	_well_formed_subject
}

_well_formed_subject if {
	_known_subject_type(input.subject.type)
	is_number(input.now)
	_has_identity(input.subject)
	_has_holdings(input.subject)
	_valid_expiry(object.get(input.subject, "expires_at", null))
}

# Scopes and grants are lists: an object would be iterated by its values and pass for one.
_has_holdings(subject) if subject.type == "user"

_has_holdings(subject) if {
	subject.type in {"global_token", "project_token"}
	is_array(subject.scopes)
}

_has_holdings(subject) if {
	subject.type == "mcp_token"
	is_array(subject.grants)
}

_known_subject_type("user")

_known_subject_type("global_token")

_known_subject_type("project_token")

_known_subject_type("mcp_token")

# An expiry is absent, null or a number of seconds; anything else makes the subject malformed.
_valid_expiry(null)

_valid_expiry(expires_at) if is_number(expires_at)

_has_identity(subject) if {
	subject.type == "project_token"
	_non_empty_string(subject.token_id)
	_non_empty_string(subject.project_id)
}

_has_identity(subject) if {
	subject.type != "project_token"
	_non_empty_string(subject.user_id)
	_known_system_role(subject.system_role)
}

# A role this policy does not know is a malformed subject, never a full user.
_known_system_role("viewer")

_known_system_role("user")

_known_system_role("admin")

_non_empty_string(value) if {
	is_string(value)
	value != ""
}

# Anonymous callers may read the non-sensitive read routes of a public project, and call
# the single-use token exchange.
_anonymous_allowed if _anonymous_granted
