# METADATA
# title: MCP token grants
# description: |
#   Which grants a user may put on an MCP token (self-service and the single-use exchange):
#   only projects the user collaborates on, and the trigger permission only with Developer or
#   above and a system role that may write. The input carries the requested grants and the
#   user's role in each project named.
package tollgate.grants

_role_rank := {"Developer": 1, "Administrator": 2, "Owner": 3}

# METADATA
# description: One entry per refused grant, with the field at fault and a reason code.
# entrypoint: true
violations := [violation |
	some i, grant in input.grants
	some reason in _refusals(grant)
	violation := {"index": i, "field": sprintf("grants.%d.project_id", [i]), "reason": reason}
]

_refusals(grant) := {"not_collaborator"} if {
	not _role_rank[object.get(input.roles, grant.project_id, null)]
} else := {"insufficient_role"} if {
	grant.allow_trigger == true
	not _may_trigger(grant.project_id)
} else := set()

_may_trigger(project_id) if {
	_role_rank[input.roles[project_id]] >= _role_rank.Developer
	input.system_role != "viewer"
}
