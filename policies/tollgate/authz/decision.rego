# METADATA
# title: Tollgate authorization decision
# description: |
#   Decides whether a request may proceed. Facts arrive in the input, gathered by the
#   TypeScript layer: the credential's status, the subject, the project named by the path and
#   the rate-limit state. Stages apply in order and the first that denies decides:
#   invalid path (400), unknown route (403), the MCP message missing or unknown to the tool
#   table (403), credentials (401), an MCP session that is not the caller's (404), rate limit
#   (429), authorization (403). Anything not explicitly granted is denied.
package tollgate.authz

# METADATA
# description: The route a request names, computed from method and path alone.
# entrypoint: true
route := {
	"valid_path": _path_valid,
	"pattern": _matched_pattern_or_null,
	"namespace": _namespace_or_null,
	"access": _route_field("access"),
	"rate_limit_class": _route_field("class"),
	"sensitive": _route_field("sensitive") == true,
	"project_id": _project_id_or_null,
	"mcp_message": _route_field("mcp") == true,
	"mcp_endpoint": _route_field("mcp_endpoint") == true,
}

# The route a valid path names, found by walking the route tree (route_tree.rego); undefined
# when no pattern matches.
_route := _route_walk(_path_segments, input.method) if _path_valid

matched_pattern := _route.pattern

route_params := _route.params

# The method's entry for the matched pattern; undefined when the method is not listed.
route_spec := _route.spec if _route.spec != null

# METADATA
# description: The decision for a request, with status and stable reason codes.
# entrypoint: true
decision := {
	"allow": _outcome.status == 200,
	"status": _outcome.status,
	"reasons": sort(_outcome.reasons),
	"access": _spec_field("access"),
	"route": _matched_pattern_or_null,
	"project_id": _project_id_or_null,
	"rate_limit_class": _spec_field("class"),
	"rate_limit_applies": _rate_limit_applies,
	"rate_limit_key": _rate_limit_key,
	"trigger_allowed": _trigger_allowed,
	"granted_projects": _granted_projects,
	"mcp_tools": _mcp_tools,
}

# For an MCP token: the projects of its live grants, sorted (the gateway and forward auth pass
# them on as X-Tollgate-Projects); null for every other caller.
default _granted_projects := null

_granted_projects := sort(_live_granted_projects) if {
	_authenticated
	count(_credential_denials) == 0
	_type == "mcp_token"
}

# For an allowed MCP request on a project: whether this token may also trigger builds there.
# The gateway passes it to the upstream (X-Tollgate-Permissions) for its own defence in depth;
# the tool table already refuses a trigger tool to a grant without allow_trigger.
default _trigger_allowed := false

_trigger_allowed if {
	_outcome.status == 200
	_type == "mcp_token"
	_route_project
	_trigger_granted
	_role_at_least("Developer")
	input.subject.system_role != "viewer"
}

# Anything no stage decides is denied.
default _outcome := {"status": 403, "reasons": {"not_granted"}}

_outcome := {"status": 400, "reasons": {"invalid_path"}} if {
	not _path_valid
} else := {"status": 403, "reasons": {"unknown_route"}} if {
	not route_spec
} else := {"status": 403, "reasons": {"mcp_body_required"}} if {
	_mcp_message_route
	not input.mcp
} else := {"status": 403, "reasons": {"unknown_tool"}} if {
	not _spec
} else := {"status": 401, "reasons": _credential_denials} if {
	count(_credential_denials) > 0
} else := {"status": 404, "reasons": {"unknown_session"}} if {
	# The session the request presents is not one the caller's token opened (another token's,
	# unknown or expired): MCP asks for 404, and the client opens a new session.
	_authenticated
	input.mcp_session.bound_to_caller == false
} else := {"status": 429, "reasons": {"rate_limited"}} if {
	_authenticated
	input.rate_limit.exceeded == true
} else := {"status": 403, "reasons": denials} if {
	count(denials) > 0
} else := {"status": 200, "reasons": set()} if {
	granted
}

default _matched_pattern_or_null := null

_matched_pattern_or_null := matched_pattern if route_spec

default _namespace_or_null := null

_namespace_or_null := _route.namespace if route_spec

# A field of what the request is judged as (mcp_messages.rego: the MCP message's entry on the
# MCP message route); of the route itself for the route entrypoint.
default _spec_field(_) := null

_spec_field(name) := _spec[name]

default _route_field(_) := null

_route_field(name) := route_spec[name]

default _project_id_or_null := null

_project_id_or_null := route_params.project if route_spec

# Rate limits count authenticated requests that reached the rate-limit stage.
default _rate_limit_applies := false

_rate_limit_applies if {
	_path_valid
	_spec
	count(_credential_denials) == 0
	_authenticated
}

# Limits apply per user; a project token has no user, so it is limited on its own.
default _rate_limit_key := null

_rate_limit_key := concat(":", ["token", input.subject.token_id]) if {
	_rate_limit_applies
	input.subject.type == "project_token"
} else := concat(":", ["user", input.subject.user_id]) if {
	_rate_limit_applies
}
