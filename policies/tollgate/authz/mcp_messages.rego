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
