# METADATA
# description: |
#   The tool table's invariants, the generated lookups (tool_lookup.rego) answering exactly like
#   the tables, and decisions on a project's MCP endpoint per JSON-RPC message.
package tollgate.authz.tool_table_test

import data.tollgate.authz

_now := 1800000000

# ---------------------------------------------------------------------------- invariants

_entry_ok(entry) if {
	object.keys(entry) == {"access", "class", "trigger"}
	entry.access in {"read", "write"}
	regex.match(`^[a-z][a-z0-9_]{0,31}$`, entry.class)
	is_boolean(entry.trigger)
}

test_every_entry_is_well_formed if {
	bad := {[name, key] |
		some name, table in {"tools": authz.mcp_tool_table, "resources": authz.mcp_resource_table}
		some key, entry in table
		not _entry_ok(entry)
	}
	bad_methods := {method |
		some method, entry in authz.mcp_method_table
		not entry.by
		not _entry_ok(entry)
	}
	print("bad entries:", bad, bad_methods)
	count(bad) + count(bad_methods) == 0
}

# Only tools/call and resources/read are decided below the method, each by its own table.
test_only_tools_call_and_resources_read_are_decided_per_name if {
	{method: entry | some method, entry in authz.mcp_method_table; entry.by} == {
		"tools/call": {"by": "tool"},
		"resources/read": {"by": "uri"},
	}
}

test_both_eras_are_listed if {
	every method in {
		"initialize", "notifications/initialized", "ping", "server/discover", "subscriptions/listen",
		"tools/list", "tools/call", "resources/list", "resources/read", "prompts/list", "prompts/get",
		"completion/complete",
	} {
		authz.mcp_method_table[method]
	}
}

# A trigger tool is a write with the trigger class, and it needs allow_trigger.
test_trigger_build_needs_allow_trigger if {
	authz.mcp_tool_table.trigger_build == {"access": "write", "class": "trigger", "trigger": true}
}

test_rate_limit_classes_are_those_the_tables_name if {
	authz.mcp_rate_limit_classes == ["default", "log", "trigger"]
}

# ---------------------------------------------------------------------------- lookups

test_method_lookup_answers_like_the_table if {
	every method, entry in authz.mcp_method_table {
		authz._mcp_method_entry(method) == entry
	}
}

test_method_lookup_knows_nothing_else if {
	every method in ["tools/delete", "Tools/list", "rpc.discover", ""] {
		not authz._mcp_method_entry(method)
	}
}

test_tool_lookup_answers_like_the_table if {
	every name, entry in authz.mcp_tool_table {
		authz._mcp_tool_entry(name) == entry
	}
}

test_tool_lookup_knows_nothing_else if {
	every name in ["delete_project", "LIST_BUILDS", "list_builds ", ""] {
		not authz._mcp_tool_entry(name)
	}
}

# Each template, with its parameters filled in ({project} by the endpoint's project), matches
# exactly its own entry.
test_resource_lookup_answers_like_the_table if {
	every template, entry in authz.mcp_resource_table {
		uri := replace(replace(replace(template, "{project}", "p1"), "{build}", "b1"), "{job}", "j1")
		entry == authz._mcp_resource_entry(split(uri, "/")) with input as _request({"method": "resources/read", "uri": uri})
	}
}

# ---------------------------------------------------------------------------- decisions

_grant(allow_trigger) := {"project_id": "p1", "expires_at": null, "allow_trigger": allow_trigger}

_request(mcp) := {
	"method": "POST",
	"path": "/api/v1/mcp/projects/p1/mcp",
	"now": _now,
	"credential": {"status": "valid"},
	"subject": {"type": "mcp_token", "token_id": "m1", "user_id": "u1", "system_role": "user", "grants": [_grant(false)]},
	"project": {"id": "p1", "public": false, "collaborator_role": "Developer"},
	"grant_roles": {"p1": "Developer"},
	"mcp": mcp,
}

_allow_trigger := [{"op": "replace", "path": "/subject/grants/0/allow_trigger", "value": true}]

test_a_read_tool_is_allowed_in_its_class if {
	got := authz.decision with input as _request({"method": "tools/call", "tool": "get_build"})
	got.allow
	got.access == "read"
	got.rate_limit_class == "default"
	got.rate_limit_key == "user:u1"
}

test_trigger_build_without_allow_trigger_is_refused if {
	got := authz.decision with input as _request({"method": "tools/call", "tool": "trigger_build"})
	got.status == 403
	got.reasons == ["trigger_not_allowed"]
	got.rate_limit_class == "trigger"
	got.rate_limit_applies
}

test_trigger_build_with_allow_trigger_is_a_write_in_the_trigger_class if {
	request := json.patch(_request({"method": "tools/call", "tool": "trigger_build"}), _allow_trigger)
	got := authz.decision with input as request
	got.allow
	got.access == "write"
	got.rate_limit_class == "trigger"
	got.trigger_allowed
}

# A Developer's write needs the role; a grant whose user is only a viewer system-wide is refused.
test_trigger_build_by_a_system_viewer_is_refused if {
	request := json.patch(_request({"method": "tools/call", "tool": "trigger_build"}), [
		{"op": "replace", "path": "/subject/grants/0/allow_trigger", "value": true},
		{"op": "replace", "path": "/subject/system_role", "value": "viewer"},
	])
	got := authz.decision with input as request
	got.status == 403
	"insufficient_role" in got.reasons
}

test_unknown_tools_and_methods_are_refused_before_anything_else if {
	every mcp in [
		{"method": "tools/call", "tool": "delete_project"},
		{"method": "tools/call"},
		{"method": "tools/call", "tool": 7},
		{"method": "tools/delete"},
		{"method": 7},
		{"method": "resources/read"},
		{"method": "resources/read", "uri": 7},
		{"tool": "list_builds"},
		"tools/list",
	] {
		got := authz.decision with input as _request(mcp)
		got.status == 403
		got.reasons == ["unknown_tool"]
		got.access == null
		got.rate_limit_class == null
		not got.rate_limit_applies
	}
}

# Forward auth without Mcp-Method, or a caller that sends no message: nothing to judge.
test_a_message_route_without_a_message_is_refused if {
	got := authz.decision with input as object.remove(_request({}), ["mcp"])
	got.status == 403
	got.reasons == ["mcp_body_required"]
}

# GET (the server's stream) and DELETE (the end of a session) carry no message.
test_get_and_delete_on_the_endpoint_are_judged_by_the_route if {
	every method in ["GET", "DELETE"] {
		got := authz.decision with input as object.union(object.remove(_request({}), ["mcp"]), {"method": method})
		got.allow
		got.rate_limit_class == "default"
	}
}

test_a_notification_is_charged_as_default if {
	got := authz.decision with input as _request({"method": "notifications/initialized"})
	got.allow
	got.rate_limit_class == "default"
}

test_a_resource_of_the_endpoints_project_is_read_in_its_class if {
	got := authz.decision with input as _request({"method": "resources/read", "uri": "demo://projects/p1/jobs/j1/logs"})
	got.allow
	got.rate_limit_class == "log"
}

# The URI must spell a template exactly: no dot segments, escapes, empty segments, query,
# fragment, other case, other project or extra segment.
test_resource_uris_that_only_resemble_a_template_are_unknown if {
	every uri in [
		"demo://projects/p2/builds/b1",
		"demo://projects/p1/builds/..",
		"demo://projects/p1/builds/.",
		"demo://projects/p1/jobs/../builds/b1",
		"demo://projects/p1/builds/b%31",
		"demo://projects/p1/builds/%2e%2e",
		"demo://projects/p1/builds/",
		"demo://projects//builds/b1",
		"demo://projects/p1/builds/b1?x=1",
		"demo://projects/p1/builds/b1#x",
		"demo://projects/p1/builds/b1/",
		"DEMO://projects/p1/builds/b1",
		"demo:/projects/p1/builds/b1",
		"demo://projects/p1/./builds/b1",
		"demo://PROJECTS/p1/builds/b1",
		"file:///etc/passwd",
		"",
	] {
		got := authz.decision with input as _request({"method": "resources/read", "uri": uri})
		got.reasons == ["unknown_tool"]
	}
}

# A response to the server's request (sampling, elicitation) is charged as default.
test_a_response_is_a_read if {
	got := authz.decision with input as _request({"method": "rpc.response"})
	got.allow
}

# The unknown tool is refused before the credential is looked at: the table is public.
test_unknown_tool_comes_before_the_credential if {
	anonymous := [{"op": "replace", "path": "/credential/status", "value": "none"}]
	request := json.patch(_request({"method": "tools/call", "tool": "nope"}), anonymous)
	got := authz.decision with input as request
	got.reasons == ["unknown_tool"]
}

# A rate limit that is spent refuses a known tool with 429.
test_a_spent_limit_refuses_a_known_tool if {
	request := object.union(_request({"method": "tools/call", "tool": "list_builds"}), {"rate_limit": {"exceeded": true}})
	got := authz.decision with input as request
	got.status == 429
}

# Other routes ignore input.mcp entirely.
test_mcp_input_does_not_change_other_routes if {
	builds := {"path": "/api/v1/mcp/projects/p1/builds", "method": "GET"}
	request := object.union(_request({"method": "tools/call", "tool": "trigger_build"}), builds)
	got := authz.decision with input as request
	got.allow
	got.access == "read"
}

# The route entrypoint marks the message route, from method and path alone.
test_route_marks_the_message_route if {
	authz.route.mcp_message with input as {"method": "POST", "path": "/api/v1/mcp/projects/p1/mcp"}
	not authz.route.mcp_message with input as {"method": "GET", "path": "/api/v1/mcp/projects/p1/mcp"}
}

# ---------------------------------------------------------------------------- tools/list

# The tools a tools/list answer keeps: those the same caller may call.
test_a_read_only_grant_sees_only_the_read_tools if {
	got := authz.decision with input as _request({"method": "tools/list"})
	got.allow
	got.mcp_tools == ["get_build", "list_builds"]
}

test_a_grant_that_allows_triggering_sees_every_tool if {
	got := authz.decision with input as json.patch(_request({"method": "tools/list"}), _allow_trigger)
	got.mcp_tools == ["get_build", "list_builds", "trigger_build"]
}

# allow_trigger is not enough for a write: a system viewer may not call trigger_build, so it
# does not see it either.
test_a_system_viewer_does_not_see_the_trigger_tool if {
	request := json.patch(_request({"method": "tools/list"}), [
		{"op": "replace", "path": "/subject/grants/0/allow_trigger", "value": true},
		{"op": "replace", "path": "/subject/system_role", "value": "viewer"},
	])
	got := authz.decision with input as request
	got.allow
	got.mcp_tools == ["get_build", "list_builds"]
}

# A resumed tools/list answer may arrive on the server's stream (GET): the same list.
test_the_servers_stream_carries_the_visible_tools if {
	request := object.union(object.remove(_request({}), ["mcp"]), {"method": "GET"})
	got := authz.decision with input as json.patch(request, _allow_trigger)
	got.mcp_tools == ["get_build", "list_builds", "trigger_build"]
}

# Every tool the list shows is one a tools/call of the same caller is allowed, and no other.
test_the_list_shows_exactly_the_callable_tools if {
	every patch in [[], _allow_trigger, [{"op": "replace", "path": "/subject/system_role", "value": "viewer"}]] {
		list := authz.decision with input as json.patch(_request({"method": "tools/list"}), patch)
		listed := {name | some name in list.mcp_tools}
		callable := {name |
			some name, _ in authz.mcp_tool_table
			call := authz.decision with input as json.patch(_request({"method": "tools/call", "tool": name}), patch)
			call.allow
		}
		listed == callable
	}
}

# Nothing to filter: other messages, other routes, refused requests.
_not_a_collaborator := [{"op": "replace", "path": "/project/collaborator_role", "value": null}]

test_no_tool_list_for_anything_else if {
	every request in [
		_request({"method": "tools/call", "tool": "list_builds"}),
		_request({"method": "prompts/list"}),
		object.union(object.remove(_request({}), ["mcp"]), {"method": "DELETE"}),
		object.union(object.remove(_request({}), ["mcp"]), {"method": "GET", "path": "/api/v1/mcp/projects/p1/builds"}),
		object.union(_request({"method": "tools/list"}), {"rate_limit": {"exceeded": true}}),
		json.patch(_request({"method": "tools/list"}), _not_a_collaborator),
	] {
		got := authz.decision with input as request
		got.mcp_tools == null
	}
}

# ---------------------------------------------------------------------------- sessions

test_every_method_of_the_mcp_endpoint_checks_sessions if {
	every method in ["GET", "POST", "DELETE"] {
		got := authz.route with input as {"method": method, "path": "/api/v1/mcp/projects/p1/mcp"}
		got.mcp_endpoint == true
	}
	not_endpoint := authz.route with input as {"method": "POST", "path": "/api/v1/mcp/projects/p1/trigger"}
	not_endpoint.mcp_endpoint == false
}

_get_build := _request({"method": "tools/call", "tool": "get_build"})

test_a_session_the_caller_did_not_open_is_not_found if {
	got := authz.decision with input as object.union(_get_build, {"mcp_session": {"bound_to_caller": false}})
	got.status == 404
	got.reasons == ["unknown_session"]
	not got.allow
}

test_the_callers_session_is_allowed if {
	got := authz.decision with input as object.union(_get_build, {"mcp_session": {"bound_to_caller": true}})
	got.allow
}

# The session stage comes before the rate limit and authorization: a hijacked session is not
# told apart from an unknown one by a 429 or a 403.
test_an_unbound_session_is_not_found_before_limits_and_grants if {
	request := object.union(_request({"method": "tools/call", "tool": "trigger_build"}), {
		"mcp_session": {"bound_to_caller": false},
		"rate_limit": {"exceeded": true},
	})
	got := authz.decision with input as request
	got.status == 404
	got.reasons == ["unknown_session"]
}

# A bad credential is answered as such; the session is not looked at.
test_credentials_come_before_the_session if {
	request := object.union(_get_build, {
		"mcp_session": {"bound_to_caller": false},
		"credential": {"status": "revoked"},
	})
	got := authz.decision with input as json.remove(request, ["subject"])
	got.status == 401
}
