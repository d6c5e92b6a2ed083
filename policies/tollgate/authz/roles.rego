# Project roles
#
# A collaborator's role in the project the path names, shared by every subject type.
package tollgate.authz

# Facts about a project count only when they describe the project the path names.
_project_facts := input.project if {
	is_string(input.project.id)
	input.project.id == _route_project
}

# Roles by rank; undefined for anything that is no role. An else-chain, not an object: opa-wasm
# would build a constant object again on every evaluation.
_role_rank(role) := 1 if {
	role == "Developer"
} else := 2 if {
	role == "Administrator"
} else := 3 if {
	role == "Owner"
}

_member if _role_rank(_project_facts.collaborator_role)

_role_at_least(role) if _role_rank(_project_facts.collaborator_role) >= _role_rank(role)

# The roles a route needs of a collaborator.
_required_roles contains "Developer" if _is_write

_required_roles contains "Administrator" if _spec.sensitive == true

_required_roles contains "Owner" if _spec.owner_only == true

_role_denials contains "insufficient_role" if {
	_member
	some required in _required_roles
	not _role_at_least(required)
}
