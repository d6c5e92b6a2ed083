# Tool table
#
# The single source of truth for what may be said on a project's MCP endpoint (POST
# /api/v1/mcp/projects/{project}/mcp, the route marked "mcp" in route_table): each JSON-RPC
# method of both MCP eras, each tool under tools/call and each resource URI template under
# resources/read, with its access (read or write), its rate-limit class (which needs a limit in
# TOLLGATE_RATE_LIMITS.mcp) and whether it needs a grant with allow_trigger. A method, tool or
# URI not in these tables is refused with 403 unknown_tool. Requests are matched by the lookup
# functions generated from these tables (tool_lookup.rego, `make wasm`); the decision never
# reads the tables themselves. docs/mcp.md explains how to add a tool.
package tollgate.authz

# Every entry: {"access": "read" | "write", "class": <rate-limit class>, "trigger": <needs allow_trigger>}.
_mcp_read := {"access": "read", "class": "default", "trigger": false}

# JSON-RPC methods, by name. tools/call and resources/read are decided per tool and per resource
# ({"by": "tool"}, {"by": "uri"}): the tables below. Notifications are charged as default.
mcp_method_table := {
	# 2025-06-18 and 2025-11-25 (sessions)
	"initialize": _mcp_read,
	"notifications/initialized": _mcp_read,
	"logging/setLevel": _mcp_read,
	# 2026-07-28 (stateless)
	"server/discover": _mcp_read,
	"subscriptions/listen": _mcp_read,
	# both eras
	"ping": _mcp_read,
	"tools/list": _mcp_read,
	"tools/call": {"by": "tool"},
	"resources/list": _mcp_read,
	"resources/templates/list": _mcp_read,
	"resources/read": {"by": "uri"},
	"resources/subscribe": _mcp_read,
	"resources/unsubscribe": _mcp_read,
	"prompts/list": _mcp_read,
	"prompts/get": _mcp_read,
	"completion/complete": _mcp_read,
	"tasks/get": _mcp_read,
	"tasks/list": _mcp_read,
	"tasks/result": _mcp_read,
	"tasks/cancel": _mcp_read,
	"notifications/cancelled": _mcp_read,
	"notifications/progress": _mcp_read,
	"notifications/roots/list_changed": _mcp_read,
	# The client's answer to a request of the server (sampling, elicitation, roots). JSON-RPC
	# reserves method names beginning with "rpc." (the gateway refuses them in a request), so
	# this entry can only be reached by a response.
	"rpc.response": _mcp_read,
}

# tools/call, by params.name: the demo MCP server's tools (src/demo/upstream.ts).
mcp_tool_table := {
	"list_builds": _mcp_read,
	"get_build": _mcp_read,
	"trigger_build": {"access": "write", "class": "trigger", "trigger": true},
}

# resources/read, by params.uri. A template is scheme://segment/segment/...; a {parameter} stands
# for exactly one segment of 1-128 characters of [A-Za-z0-9._-] starting with a letter or digit,
# and {project} only for the project the endpoint's path names. So dot segments, %-escapes,
# empty segments, queries and fragments never match, and a URI matches at most one template.
mcp_resource_table := {
	"demo://projects/{project}/builds/{build}": _mcp_read,
	"demo://projects/{project}/jobs/{job}/logs": {"access": "read", "class": "log", "trigger": false},
}

# METADATA
# description: |
#   The rate-limit classes the tables name, sorted. Tollgate refuses to start when one has no
#   limit in TOLLGATE_RATE_LIMITS.mcp (a policy reloaded later that names one denies with
#   policy_error).
# entrypoint: true
mcp_rate_limit_classes := sort({entry.class |
	some table in [mcp_method_table, mcp_tool_table, mcp_resource_table]
	some entry in table
	entry.class
})
