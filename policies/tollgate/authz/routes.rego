# Route table
#
# The single source of truth for the protected API. Each path pattern maps the methods it
# accepts to an access level (read or write), a rate-limit class and a sensitivity. Parameters
# are written {name}; a parameter matches exactly one path segment of its type (param_types).
# Anything not in this table is denied. Requests are matched by the route tree generated from
# this table (route_tree.rego, `make wasm`); the decision never reads the table itself.
package tollgate.authz

# The type of each route parameter, by name; a parameter not listed here is an "id". A segment
# that is not of its parameter's type does not match the pattern, so "restart" or "RESTART"
# can never be read as a {restart_counter}.
#   id      1-128 characters of [A-Za-z0-9._-], starting with a letter or digit
#   digits  1-9 ASCII digits
param_types := {"restart_counter": "digits"}

_read := {"access": "read", "class": "default", "sensitive": false}

_write := {"access": "write", "class": "default", "sensitive": false}

_read_log := object.union(_read, {"class": "log"})

_read_artifact := object.union(_read, {"class": "artifact"})

_trigger := object.union(_write, {"class": "trigger"})

_sensitive_read := object.union(_read, {"sensitive": true})

_sensitive_write := object.union(_write, {"sensitive": true})

# Deleting a project or changing its visibility needs the Owner role.
_owner_write := object.union(_sensitive_write, {"owner_only": true})

# A project's MCP endpoint. Requests on it may present an MCP session (Mcp-Session-Id), which
# Tollgate checks is the caller's (input.mcp_session). On a POST the JSON-RPC message in the body
# decides access, class and trigger (tool_table.rego, mcp_messages.rego); the route's own entry
# applies to nothing.
_mcp_endpoint := object.union(_read, {"mcp_endpoint": true})

_mcp_messages := object.union(_mcp_endpoint, {"mcp": true})

# The single-use token exchange is the one route reachable without credentials.
_anonymous_write := object.union(_write, {"anonymous": true})

_project := "/api/v1/projects/{project}"

_build := concat("", [_project, "/builds/{build}"])

_job := concat("", [_project, "/jobs/{job}"])

_mcp_project := "/api/v1/mcp/projects/{project}"

route_table := {
	"/api/v1/user": {"GET": _read},
	"/api/v1/projects": {"GET": _read, "POST": _write},
	_project: {"GET": _read, "DELETE": _owner_write},
	concat("", [_project, "/visibility"]): {"GET": _read, "POST": _owner_write, "PUT": _owner_write},
	concat("", [_project, "/archive"]): {"GET": _read_artifact},
	concat("", [_project, "/builds"]): {"GET": _read},
	_build: {"GET": _read},
	concat("", [_build, "/{restart_counter}"]): {"GET": _read},
	concat("", [_build, "/jobs"]): {"GET": _read},
	concat("", [_build, "/restart"]): {"GET": _write},
	concat("", [_build, "/abort"]): {"GET": _write},
	concat("", [_build, "/cache/clear"]): {"GET": _write},
	concat("", [_project, "/jobs"]): {"GET": _read},
	_job: {"GET": _read},
	concat("", [_job, "/console"]): {"GET": _read_log},
	concat("", [_job, "/output"]): {"GET": _read_artifact},
	concat("", [_job, "/testresults"]): {"GET": _read},
	concat("", [_job, "/testruns"]): {"GET": _read},
	concat("", [_job, "/tests/history"]): {"GET": _read},
	concat("", [_job, "/tabs"]): {"GET": _read},
	concat("", [_job, "/archive"]): {"GET": _read_artifact},
	concat("", [_job, "/archive/download"]): {"GET": _read_artifact},
	concat("", [_job, "/badges"]): {"GET": _read},
	concat("", [_job, "/stats"]): {"GET": _read},
	concat("", [_job, "/manifest"]): {"GET": _read},
	concat("", [_job, "/restart"]): {"GET": _write},
	concat("", [_job, "/rerun"]): {"GET": _write},
	concat("", [_job, "/abort"]): {"GET": _write},
	concat("", [_job, "/cache/clear"]): {"GET": _write},
	concat("", [_project, "/commits"]): {"GET": _read},
	concat("", [_project, "/commits/{commit}"]): {"GET": _read},
	concat("", [_project, "/cronjobs"]): {"GET": _read, "POST": _sensitive_write},
	concat("", [_project, "/cronjobs/{cronjob}"]): {"GET": _read, "DELETE": _sensitive_write},
	concat("", [_project, "/collaborators"]): {"GET": _read, "POST": _sensitive_write},
	concat("", [_project, "/collaborators/roles"]): {"GET": _read},
	concat("", [_project, "/collaborators/{user}"]): {"PUT": _sensitive_write, "DELETE": _sensitive_write},
	concat("", [_project, "/secrets"]): {"GET": _sensitive_read, "POST": _sensitive_write},
	concat("", [_project, "/secrets/{secret}"]): {"DELETE": _sensitive_write},
	concat("", [_project, "/sshkeys"]): {"GET": _sensitive_read, "POST": _sensitive_write},
	concat("", [_project, "/sshkeys/{sshkey}"]): {"DELETE": _sensitive_write},
	concat("", [_project, "/tokens"]): {"GET": _sensitive_read, "POST": _sensitive_write},
	concat("", [_project, "/tokens/{token}"]): {"DELETE": _sensitive_write},
	concat("", [_project, "/vault"]): {"GET": _sensitive_read, "POST": _sensitive_write},
	concat("", [_project, "/vault/{vault}"]): {"DELETE": _sensitive_write},
	concat("", [_project, "/trigger"]): {"POST": _trigger},
	concat("", [_project, "/upload"]): {"POST": _write},
	concat("", [_project, "/upload/{build}"]): {"POST": _write},
	"/api/v1/admin/users": {"GET": _sensitive_read},
	"/api/v1/admin/users/{user}": {"GET": _sensitive_read, "PUT": _sensitive_write},
	"/api/v1/admin/projects": {"GET": _sensitive_read},
	"/api/v1/admin/clusters": {"GET": _sensitive_read},
	"/api/v1/admin/clusters/{cluster}": {"PATCH": _sensitive_write},
	"/api/v1/admin/global-tokens": {"GET": _sensitive_read},
	"/api/v1/mcp/projects": {"GET": _read},
	_mcp_project: {"GET": _read},
	concat("", [_mcp_project, "/builds"]): {"GET": _read},
	concat("", [_mcp_project, "/builds/{build}"]): {"GET": _read},
	concat("", [_mcp_project, "/jobs/{job}"]): {"GET": _read},
	concat("", [_mcp_project, "/jobs/{job}/logs"]): {"GET": _read_log},
	concat("", [_mcp_project, "/jobs/{job}/artifacts"]): {"GET": _read_artifact},
	concat("", [_mcp_project, "/trigger"]): {"POST": _trigger},
	# The project's MCP server (streamable HTTP): GET opens the server's stream, DELETE ends a
	# session, POST carries one JSON-RPC message, judged by the tool table.
	concat("", [_mcp_project, "/mcp"]): {"GET": _mcp_endpoint, "POST": _mcp_messages, "DELETE": _mcp_endpoint},
	"/api/v1/mcp/tokens": {"GET": _read, "POST": _write},
	"/api/v1/mcp/tokens/temp": {"POST": _write},
	"/api/v1/mcp/tokens/exchange": {"POST": _anonymous_write},
	"/api/v1/mcp/tokens/{token}": {"GET": _read, "PATCH": _write, "DELETE": _write},
	"/api/v1/mcp/tokens/{token}/audit": {"GET": _read},
}

# The area of the API a pattern belongs to; the subject rules are written per area.
namespace(pattern) := "mcp_tokens" if {
	_in_tree(pattern, "/api/v1/mcp/tokens")
} else := "mcp" if {
	_in_tree(pattern, "/api/v1/mcp")
} else := "admin" if {
	_in_tree(pattern, "/api/v1/admin")
} else := "projects" if {
	_in_tree(pattern, "/api/v1/projects")
} else := "user"

_in_tree(pattern, root) if pattern == root

_in_tree(pattern, root) if startswith(pattern, concat("", [root, "/"]))

# The parameter types (param_types). The route tree calls these on the segment in a
# parameter's place. Cutsets are written out rather than named: OPA's Go evaluator looks a named
# constant up on every call.
_is_id(segment) if {
	count(segment) <= 128
	trim(segment, "abcdefghijklmnopqrstuvwxyz0123456789-._ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
	trim_left(segment, "-._") == segment # begins with a letter or digit
	segment != ""
}

_is_digits(segment) if {
	count(segment) <= 9
	trim(segment, "0123456789") == ""
	segment != ""
}
