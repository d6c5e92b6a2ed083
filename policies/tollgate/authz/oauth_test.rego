# METADATA
# description: |
#   MCP tokens issued by the OAuth authorization server (docs/oauth.md): bound to the one
#   resource they were issued for, a project's MCP endpoint; everything else an MCP token is
#   held to applies unchanged.
package tollgate.authz.oauth_test

import data.tollgate.authz

_grant(project) := {"project_id": project, "expires_at": null, "allow_trigger": true}

# An OAuth token for p1's MCP endpoint (with a grant for p2 too, which OAuth never issues).
_request(method, path, project) := {
	"method": method,
	"path": path,
	"now": 1800000000,
	"credential": {"status": "valid"},
	"subject": {
		"type": "mcp_token", "token_id": "m1", "user_id": "u1", "system_role": "user",
		"grants": [_grant("p1"), _grant("p2")],
		"oauth": {"client_id": "https://agent.example.com/client.json", "grant_id": "g1", "project_id": "p1"},
	},
	"project": {"id": project, "public": false, "collaborator_role": "Developer"},
	"grant_roles": {"p1": "Developer", "p2": "Developer"},
	"mcp": {"method": "tools/list"},
}

_on_p1 := _request("POST", "/api/v1/mcp/projects/p1/mcp", "p1")

test_an_oauth_token_is_accepted_on_its_resource if {
	got := authz.decision with input as _on_p1
	got.allow
}

test_an_oauth_token_follows_the_mcp_token_rules_on_its_resource if {
	no_longer_member := [
		{"op": "replace", "path": "/grant_roles/p1", "value": null},
		{"op": "replace", "path": "/project/collaborator_role", "value": null},
	]
	got := authz.decision with input as json.patch(_on_p1, no_longer_member)
	got.status == 403
	got.reasons == ["not_collaborator"]
}

test_an_oauth_token_is_not_a_credential_on_another_project_s_endpoint if {
	got := authz.decision with input as _request("POST", "/api/v1/mcp/projects/p2/mcp", "p2")
	got.status == 401
	got.reasons == ["invalid_token"]
}

test_an_oauth_token_is_not_a_credential_on_other_routes_of_its_project if {
	every method_path in [
		["POST", "/api/v1/mcp/projects/p1/trigger"],
		["GET", "/api/v1/mcp/projects/p1/builds"],
		["GET", "/api/v1/mcp/projects"],
		["GET", "/api/v1/mcp/tokens"],
	] {
		got := authz.decision with input as _request(method_path[0], method_path[1], "p1")
		got.status == 401
		got.reasons == ["invalid_token"]
	}
}

test_a_malformed_oauth_binding_is_not_a_credential if {
	every oauth in [null, false, "p1", {}, {"client_id": "c"}, {"client_id": "c", "project_id": 7}] {
		got := authz.decision with input as json.patch(_on_p1, [{"op": "replace", "path": "/subject/oauth", "value": oauth}])
		got.status == 401
		got.reasons == ["invalid_token"]
	}
}

test_an_mcp_token_made_by_hand_is_not_bound_to_one_endpoint if {
	on_p2 := _request("POST", "/api/v1/mcp/projects/p2/mcp", "p2")
	got := authz.decision with input as json.patch(on_p2, [{"op": "remove", "path": "/subject/oauth"}])
	got.allow
}

# Step-up: a trigger tool called with an OAuth token whose grant lacks allow_trigger.
_call_trigger := {"op": "replace", "path": "/mcp", "value": {"method": "tools/call", "tool": "trigger_build"}}

_read_only_grant := {"project_id": "p1", "expires_at": null, "allow_trigger": false}

_trigger_call(subject_patch) := json.patch(
	_on_p1,
	array.concat(
		[_call_trigger, {"op": "replace", "path": "/subject/grants", "value": [_read_only_grant]}],
		subject_patch,
	),
)

test_an_oauth_token_without_the_trigger_scope_is_told_to_ask_for_it if {
	got := authz.decision with input as _trigger_call([])
	got.status == 403
	got.reasons == ["trigger_scope_missing"]
}

test_an_oauth_token_with_the_trigger_scope_may_trigger if {
	got := authz.decision with input as json.patch(_on_p1, [_call_trigger])
	got.allow
}

test_no_step_up_where_asking_again_cannot_help if {
	every case in [
		# a hand-made MCP token: OAuth cannot widen it
		[{"op": "remove", "path": "/subject/oauth"}],
		# a system viewer may not approve mcp:trigger
		[{"op": "replace", "path": "/subject/system_role", "value": "viewer"}],
		# nor a collaborator below Developer
		[{"op": "replace", "path": "/project/collaborator_role", "value": "Reporter"}],
	] {
		got := authz.decision with input as _trigger_call(case)
		got.status == 403
		not "trigger_scope_missing" in got.reasons
	}
}

test_a_hand_made_token_without_the_trigger_grant_is_trigger_not_allowed if {
	got := authz.decision with input as _trigger_call([{"op": "remove", "path": "/subject/oauth"}])
	got.reasons == ["trigger_not_allowed"]
}
