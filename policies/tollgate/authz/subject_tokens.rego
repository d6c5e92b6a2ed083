# Global and project tokens (API tokens with scopes)
#
# A global token acts for its user in the projects the user collaborates on, and may list
# projects; a project token acts in its one project (it has no user, so no system role).
# Neither reaches a sensitive route.
package tollgate.authz

_global_token_denials contains reason if some reason in _viewer_denials

_global_token_denials contains reason if some reason in _scope_denials

_global_token_denials contains "not_collaborator" if {
	_route_project
	not _member
}

_global_token_denials contains reason if some reason in _role_denials

_global_token_denials contains "token_not_allowed_on_path" if {
	not _route_project
	not _global_token_listing
}

_project_token_denials contains reason if some reason in _scope_denials

_project_token_denials contains "token_not_allowed_on_path" if not _route_project

_project_token_denials contains "project_mismatch" if _route_project != input.subject.project_id

_scope_denials contains "insufficient_scope" if not _access in _scopes

_scopes contains scope if some scope in input.subject.scopes

_global_token_listing if {
	matched_pattern == "/api/v1/projects"
	_access == "read"
}

_global_token_granted if {
	_route_project
	_member
} else if {
	_global_token_listing
}
