# Authorization by subject
#
# The authorization stage (403). Each subject type has the areas of the API it may use and
# the grants it holds there. A request is allowed only when a grant rule below matches and
# no denial applies.
package tollgate.authz

_type := input.subject.type

_access := route_spec.access

_is_write if _access == "write"

_namespace := _route.namespace

_route_project := route_params.project

# Facts about a project count only when they describe the project the path names.
_project_facts := input.project if {
	is_string(input.project.id)
	input.project.id == _route_project
}

_role_rank := {"Developer": 1, "Administrator": 2, "Owner": 3}

_member if _role_rank[_project_facts.collaborator_role]

_role_at_least(role) if _role_rank[_project_facts.collaborator_role] >= _role_rank[role]

_public_read if {
	_namespace == "projects"
	_access == "read"
	not route_spec.sensitive
	_project_facts.public == true
}

_areas := {
	"user": {"projects", "user", "admin", "mcp_tokens"},
	"global_token": {"projects"},
	"project_token": {"projects"},
	"mcp_token": {"mcp"},
}

_area_ok if _namespace in _areas[_type]

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

# A system viewer never writes, whatever the credential.
_area_denials contains "insufficient_role" if {
	_is_write
	input.subject.system_role == "viewer"
}

_area_denials contains "insufficient_scope" if {
	_type in {"global_token", "project_token"}
	not _access in _scopes
}

_area_denials contains "insufficient_role" if {
	_type == "user"
	_namespace == "admin"
	input.subject.system_role != "admin"
}

_area_denials contains "not_collaborator" if {
	_type in {"user", "global_token"}
	_route_project
	not _member
	not _public_read_for_session
}

_area_denials contains "insufficient_role" if {
	_type in {"user", "global_token", "mcp_token"}
	_member
	some required in _required_roles
	not _role_at_least(required)
}

_area_denials contains "token_not_allowed_on_path" if {
	_type == "global_token"
	not _route_project
	not _global_token_listing
}

_area_denials contains "token_not_allowed_on_path" if {
	_type == "project_token"
	not _route_project
}

_area_denials contains "project_mismatch" if {
	_type == "project_token"
	_route_project != input.subject.project_id
}

_area_denials contains "grant_missing" if {
	_type == "mcp_token"
	_route_project
	count(_grants_for_project) == 0
}

_area_denials contains "grant_expired" if {
	_type == "mcp_token"
	count(_grants_for_project) > 0
	count(_live_grants) == 0
}

_area_denials contains "not_collaborator" if {
	_type == "mcp_token"
	count(_live_grants) > 0
	not _member
}

# The listing of MCP projects needs a live grant for some project.
_area_denials contains "grant_missing" if {
	_type == "mcp_token"
	not _route_project
	count(_live_granted_projects) == 0
	not _every_grant_expired
}

_area_denials contains "grant_expired" if {
	_type == "mcp_token"
	not _route_project
	_every_grant_expired
}

_area_denials contains "trigger_not_allowed" if {
	_type == "mcp_token"
	route_spec.class == "trigger"
	count(_live_grants) > 0
	not _trigger_granted
}

_sensitive_for_token if {
	_authenticated
	_type in {"global_token", "project_token"}
	route_spec.sensitive == true
}

_scopes contains scope if some scope in input.subject.scopes

_public_read_for_session if {
	_type == "user"
	_public_read
}

_required_roles contains "Developer" if _is_write

_required_roles contains "Administrator" if route_spec.sensitive == true

_required_roles contains "Owner" if route_spec.owner_only == true

_global_token_listing if {
	matched_pattern == "/api/v1/projects"
	_access == "read"
}

_grants_for_project contains grant if {
	some grant in input.subject.grants
	grant.project_id == _route_project
}

# A grant without an expiry lasts as long as the token; anything else but a future
# timestamp counts as expired.
_live_grants contains grant if {
	some grant in _grants_for_project
	not _grant_expired(grant)
}

_grant_expired(grant) if {
	grant.expires_at != null
	not _future(grant.expires_at)
}

_future(timestamp) if {
	is_number(timestamp)
	timestamp > input.now
}

# The projects of the token's grants that are live now: unexpired, and the user still a
# collaborator there (input.grant_roles: the user's role in each granted project, or null).
_live_granted_projects contains grant.project_id if {
	some grant in input.subject.grants
	is_string(grant.project_id)
	not _grant_expired(grant)
	_role_rank[input.grant_roles[grant.project_id]]
}

_every_grant_expired if {
	count(input.subject.grants) > 0
	every grant in input.subject.grants {
		_grant_expired(grant)
	}
}

_trigger_granted if {
	some grant in _live_grants
	grant.allow_trigger == true
}

# METADATA
# description: Positive grants. Each matches one kind of access a subject holds.
# scope: document
granted if {
	_type == "user"
	_area_ok
	_namespace != "admin"
	not _route_project
}

granted if {
	_type == "user"
	_namespace == "admin"
	input.subject.system_role == "admin"
}

granted if {
	_type in {"user", "global_token"}
	_route_project
	_member
}

granted if {
	_type == "user"
	_public_read
}

granted if {
	_type == "global_token"
	_global_token_listing
}

granted if {
	_type == "project_token"
	_route_project == input.subject.project_id
}

granted if {
	_type == "mcp_token"
	_namespace == "mcp"
	not _route_project
}

granted if {
	_type == "mcp_token"
	count(_live_grants) > 0
	_member
}

# The single-use exchange carries its own secret in the body.
granted if {
	_credential_status == "none"
	route_spec.anonymous == true
}

granted if {
	_credential_status == "none"
	_public_read
}
