# MCP messages
#
# On the route marked "mcp" in route_table (POST to a project's MCP endpoint) the JSON-RPC
# message decides what the request is: input.mcp = {method, tool?, uri?}, parsed from the body
# by the gateway (forward auth and ext-authz: from Mcp-Method and Mcp-Name). Its entry in the
# tool table (tool_table.rego) takes the place of the route's: access, rate-limit class and
# whether the grant must allow triggering.
package tollgate.authz

_mcp_message_route if route_spec.mcp == true

# The tool table's entry for the message; undefined when the table does not name it.
_mcp_entry := _mcp_tool_entry(input.mcp.tool) if input.mcp.method == "tools/call"

_mcp_entry := _mcp_resource_entry(split(input.mcp.uri, "/")) if {
	input.mcp.method == "resources/read"
	is_string(input.mcp.uri)
}

_mcp_entry := entry if {
	entry := _mcp_method_entry(input.mcp.method)
	not entry.by
}

# What the request is judged as: the route's entry, or on the MCP message route the message's.
_spec := route_spec if not _mcp_message_route

_spec := _mcp_entry if _mcp_message_route

# Whether the request needs a grant with allow_trigger.
_needs_trigger if _spec.trigger == true

_needs_trigger if {
	not _mcp_message_route
	route_spec.class == "trigger"
}

# The tools a caller may see in a tools/list answer: exactly those of the tool table that the
# same request, made as tools/call of that tool, would be allowed (the gateway removes every
# other tool from the answer). Given for an allowed tools/list message and for an allowed GET
# of the MCP endpoint (the server's stream, where a resumed tools/list answer may arrive);
# null for anything else.
default _mcp_tools := null

_mcp_tools := sort([name |
	some name, _ in mcp_tool_table
	_tool_callable(name)
]) if {
	_outcome.status == 200
	_lists_tools
}

_lists_tools if input.mcp.method == "tools/list"

_lists_tools if {
	input.method == "GET"
	_route_posts_mcp_messages(matched_pattern)
}

# The whole decision again for each tool, as its tools/call: the list can never show a tool the
# call would refuse, whatever rules an operator adds. `with` re-evaluates without the cache,
# once per tool of the table (measured in docs/benchmarks.md), and only for tools/list and GET.
_tool_callable(name) if {
	call := {"method": "tools/call", "tool": name}

	# regal ignore:with-outside-test-context
	_outcome.status == 200 with input.method as "POST" with input.mcp as call
}
