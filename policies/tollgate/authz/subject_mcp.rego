# MCP tokens
#
# The MCP area only, and there only the projects the token holds a live grant for, while its
# user is still a collaborator; triggering needs a grant that allows it.
package tollgate.authz

_mcp_denials contains reason if some reason in _viewer_denials

_mcp_denials contains reason if some reason in _role_denials

_mcp_denials contains "grant_missing" if {
	_route_project
	count(_grants_for_project) == 0
}

_mcp_denials contains "grant_expired" if {
	count(_grants_for_project) > 0
	count(_live_grants) == 0
}

_mcp_denials contains "not_collaborator" if {
	count(_live_grants) > 0
	not _member
}

# The listing of MCP projects needs a live grant for some project.
_mcp_denials contains "grant_missing" if {
	not _route_project
	count(_live_granted_projects) == 0
	not _every_grant_expired
}

_mcp_denials contains "grant_expired" if {
	not _route_project
	_every_grant_expired
}

_mcp_denials contains "trigger_not_allowed" if {
	_needs_trigger
	count(_live_grants) > 0
	not _trigger_granted
	not _trigger_scope_grantable
}

# A token from the OAuth authorization server whose grant lacks only the mcp:trigger scope, for a
# user who could approve it on the consent page: the client can ask the user again for it
# (step-up; the gateway answers 403 insufficient_scope, docs/oauth.md). A hand-made token, or a
# user who could not approve it, is refused trigger_not_allowed: asking again could not help.
_mcp_denials contains "trigger_scope_missing" if {
	_needs_trigger
	count(_live_grants) > 0
	not _trigger_granted
	_trigger_scope_grantable
}

# The grant rules of the consent page (grants.rego): Developer or above, a system role that writes.
_trigger_scope_grantable if {
	_has_oauth_binding
	input.subject.system_role != "viewer"
	_role_at_least("Developer")
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
	_role_rank(input.grant_roles[grant.project_id])
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

_mcp_granted if {
	_namespace == "mcp"
	not _route_project
} else if {
	count(_live_grants) > 0
	_member
}
