# Authorization by subject
#
# The authorization stage (403). Each subject type has its own file: the areas of the API it
# may use, the grants it holds there and what it is refused (subject_user.rego,
# subject_tokens.rego, subject_mcp.rego); roles.rego holds the project roles they share. A
# request is allowed only when a grant matches and no denial applies. Choices between subject
# types are else-chains: only the subject's own rules are evaluated.
package tollgate.authz

_type := input.subject.type

_access := _spec.access

_is_write if _access == "write"

_namespace := _route.namespace

_route_project := route_params.project

_public_read if {
	_namespace == "projects"
	_access == "read"
	not _spec.sensitive
	_project_facts.public == true
}

# The areas of the API each subject type may use.
_area_ok if {
	_type == "user"
	_namespace != "mcp"
} else if {
	_type == "mcp_token"
	_namespace == "mcp"
} else if {
	_api_token
	_namespace == "projects"
}

# Global and project tokens: the API tokens, which carry scopes.
_api_token if _type == "global_token"

_api_token if _type == "project_token"

# METADATA
# description: Why an authenticated request is refused; empty when nothing objects.
# scope: document
denials contains "token_not_allowed_on_path" if {
	_authenticated
	not _area_ok
	not _sensitive_for_token
}

denials contains "sensitive_endpoint" if _sensitive_for_token

# A token on a sensitive route gets that one reason: nothing else could make it allowed.
denials contains reason if {
	_authenticated
	_area_ok
	not _sensitive_for_token
	some reason in _area_denials
}

# The refusals of the subject's own type.
_area_denials := _user_denials if {
	_type == "user"
} else := _global_token_denials if {
	_type == "global_token"
} else := _project_token_denials if {
	_type == "project_token"
} else := _mcp_denials if {
	_type == "mcp_token"
}

# A system viewer never writes, whatever the credential.
_viewer_denials contains "insufficient_role" if {
	_is_write
	input.subject.system_role == "viewer"
}

_sensitive_for_token if {
	_authenticated
	_api_token
	_spec.sensitive == true
}

# METADATA
# description: Positive grants. Each matches one kind of access a subject holds.
# scope: document
granted if {
	_type == "user"
	_user_granted
} else if {
	_type == "global_token"
	_global_token_granted
} else if {
	_type == "project_token"
	_route_project == input.subject.project_id
} else if {
	_type == "mcp_token"
	_mcp_granted
} else if {
	_credential_status == "none"
	_anonymous_granted
}

# The single-use exchange carries its own secret in the body.
_anonymous_granted if _spec.anonymous == true

_anonymous_granted if _public_read
