# Users (session credentials)
#
# Everything but the MCP area; the admin area with the admin system role; a project as its
# collaborator, or a public project's non-sensitive reads.
package tollgate.authz

_user_denials contains reason if some reason in _viewer_denials

_user_denials contains "insufficient_role" if {
	_namespace == "admin"
	input.subject.system_role != "admin"
}

_user_denials contains "not_collaborator" if {
	_route_project
	not _member
	not _public_read
}

_user_denials contains reason if some reason in _role_denials

_user_granted if {
	_area_ok
	_namespace != "admin"
	not _route_project
} else if {
	_namespace == "admin"
	input.subject.system_role == "admin"
} else if {
	_route_project
	_member
} else if {
	_public_read
}
