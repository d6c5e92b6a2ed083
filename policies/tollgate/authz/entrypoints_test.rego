# METADATA
# description: |
#   Whole outputs of the two entrypoints, route and decision, with the shapes documented in
#   src/policy/types.ts (RouteInfo, PolicyDecision).
package tollgate.authz.entrypoints_test

import data.tollgate.authz

_now := 1800000000

_request(method, path) := {"method": method, "path": path}

_invalid_route := {
	"valid_path": false,
	"pattern": null,
	"namespace": null,
	"access": null,
	"rate_limit_class": null,
	"sensitive": false,
	"project_id": null,
	"mcp_message": false,
	"mcp_endpoint": false,
}

# ---------------------------------------------------------------------------- route

test_route_of_a_project_read if {
	got := authz.route with input as _request("GET", "/api/v1/projects/p1/jobs/j1/console?follow=1")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/projects/{project}/jobs/{job}/console",
		"namespace": "projects",
		"access": "read",
		"rate_limit_class": "log",
		"sensitive": false,
		"project_id": "p1",
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

test_route_of_a_write_via_get if {
	got := authz.route with input as _request("GET", "/api/v1/projects/p1/builds/b1/restart")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/projects/{project}/builds/{build}/restart",
		"namespace": "projects",
		"access": "write",
		"rate_limit_class": "default",
		"sensitive": false,
		"project_id": "p1",
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

test_route_of_a_restart_counter if {
	got := authz.route with input as _request("GET", "/api/v1/projects/p1/builds/b1/2")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/projects/{project}/builds/{build}/{restart_counter}",
		"namespace": "projects",
		"access": "read",
		"rate_limit_class": "default",
		"sensitive": false,
		"project_id": "p1",
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

test_route_of_an_owner_only_write if {
	got := authz.route with input as _request("DELETE", "/api/v1/projects/p1")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/projects/{project}",
		"namespace": "projects",
		"access": "write",
		"rate_limit_class": "default",
		"sensitive": true,
		"project_id": "p1",
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

test_route_of_an_mcp_trigger if {
	got := authz.route with input as _request("POST", "/api/v1/mcp/projects/p9/trigger")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/mcp/projects/{project}/trigger",
		"namespace": "mcp",
		"access": "write",
		"rate_limit_class": "trigger",
		"sensitive": false,
		"project_id": "p9",
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

test_route_of_an_admin_read if {
	got := authz.route with input as _request("GET", "/api/v1/admin/users/u2")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/admin/users/{user}",
		"namespace": "admin",
		"access": "read",
		"rate_limit_class": "default",
		"sensitive": true,
		"project_id": null,
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

test_route_of_mcp_token_management if {
	got := authz.route with input as _request("POST", "/api/v1/mcp/tokens/exchange")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/mcp/tokens/exchange",
		"namespace": "mcp_tokens",
		"access": "write",
		"rate_limit_class": "default",
		"sensitive": false,
		"project_id": null,
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

test_route_of_the_user_endpoint if {
	got := authz.route with input as _request("GET", "/api/v1/user")
	got == {
		"valid_path": true,
		"pattern": "/api/v1/user",
		"namespace": "user",
		"access": "read",
		"rate_limit_class": "default",
		"sensitive": false,
		"project_id": null,
		"mcp_message": false,
		"mcp_endpoint": false,
	}
}

# A known path with an unlisted method, or no pattern at all, names no route.
test_route_of_an_unlisted_method if {
	got := authz.route with input as _request("POST", "/api/v1/projects/p1/builds")
	got == object.union(_invalid_route, {"valid_path": true})
}

test_route_of_an_unknown_path if {
	got := authz.route with input as _request("GET", "/api/v1/projects/p1/settings")
	got == object.union(_invalid_route, {"valid_path": true})
}

test_route_of_an_invalid_path if {
	every path in ["/api/v1/projects/p1/../p2", "/api/v1/projects/p1/", "", "/api/v1/build%73"] {
		_invalid_route == authz.route with input as _request("GET", path)
	}
}

test_route_of_a_non_string_path if {
	_invalid_route == authz.route with input as {"method": "GET", "path": 7}
}

# ---------------------------------------------------------------------------- decision

_facts(role) := {"id": "p1", "public": false, "collaborator_role": role}

test_decision_allowed_for_a_collaborator if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/projects/p1/builds",
		"now": _now,
		"credential": {"status": "valid"},
		"subject": {"type": "user", "user_id": "u1", "system_role": "user"},
		"project": _facts("Developer"),
	}
	got == {
		"allow": true,
		"status": 200,
		"reasons": [],
		"access": "read",
		"route": "/api/v1/projects/{project}/builds",
		"project_id": "p1",
		"rate_limit_class": "default",
		"rate_limit_applies": true,
		"rate_limit_key": "user:u1",
		"trigger_allowed": false,
		"granted_projects": null,
		"mcp_tools": null,
	}
}

test_decision_for_an_invalid_path if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/projects/p1/%2e%2e/p2",
		"now": _now,
		"credential": {"status": "valid"},
		"subject": {"type": "user", "user_id": "u1", "system_role": "user"},
	}
	got == {
		"allow": false,
		"status": 400,
		"reasons": ["invalid_path"],
		"access": null,
		"route": null,
		"project_id": null,
		"rate_limit_class": null,
		"rate_limit_applies": false,
		"rate_limit_key": null,
		"trigger_allowed": false,
		"granted_projects": null,
		"mcp_tools": null,
	}
}

test_decision_for_an_unknown_route if {
	got := authz.decision with input as {
		"method": "get",
		"path": "/api/v1/projects/p1/builds",
		"now": _now,
		"credential": {"status": "none"},
	}
	got == {
		"allow": false,
		"status": 403,
		"reasons": ["unknown_route"],
		"access": null,
		"route": null,
		"project_id": null,
		"rate_limit_class": null,
		"rate_limit_applies": false,
		"rate_limit_key": null,
		"trigger_allowed": false,
		"granted_projects": null,
		"mcp_tools": null,
	}
}

test_decision_for_a_missing_token if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/projects/p1/jobs/j1/output",
		"now": _now,
		"credential": {"status": "none"},
		"project": _facts(null),
	}
	got == {
		"allow": false,
		"status": 401,
		"reasons": ["missing_token"],
		"access": "read",
		"route": "/api/v1/projects/{project}/jobs/{job}/output",
		"project_id": "p1",
		"rate_limit_class": "artifact",
		"rate_limit_applies": false,
		"rate_limit_key": null,
		"trigger_allowed": false,
		"granted_projects": null,
		"mcp_tools": null,
	}
}

test_decision_for_a_rate_limited_project_token if {
	got := authz.decision with input as {
		"method": "POST",
		"path": "/api/v1/projects/p1/trigger",
		"now": _now,
		"credential": {"status": "valid"},
		"subject": {"type": "project_token", "token_id": "pt1", "project_id": "p1", "scopes": ["write"]},
		"rate_limit": {"exceeded": true},
	}
	got == {
		"allow": false,
		"status": 429,
		"reasons": ["rate_limited"],
		"access": "write",
		"route": "/api/v1/projects/{project}/trigger",
		"project_id": "p1",
		"rate_limit_class": "trigger",
		"rate_limit_applies": true,
		"rate_limit_key": "token:pt1",
		"trigger_allowed": false,
		"granted_projects": null,
		"mcp_tools": null,
	}
}

test_decision_with_several_denials_lists_them_sorted if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/projects/p2/builds",
		"now": _now,
		"credential": {"status": "valid"},
		"subject": {"type": "project_token", "token_id": "pt1", "project_id": "p1", "scopes": []},
	}
	got == {
		"allow": false,
		"status": 403,
		"reasons": ["insufficient_scope", "project_mismatch"],
		"access": "read",
		"route": "/api/v1/projects/{project}/builds",
		"project_id": "p2",
		"rate_limit_class": "default",
		"rate_limit_applies": true,
		"rate_limit_key": "token:pt1",
		"trigger_allowed": false,
		"granted_projects": null,
		"mcp_tools": null,
	}
}

# A subject that no rule grants and none denies falls to the default deny: here a session
# whose subject carries no system_role asks for an admin route.
# The safety net: a request no stage denies and no rule grants is denied all the same.
test_decision_catch_all_is_not_granted if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/projects/p1/builds",
		"now": _now,
		"credential": {"status": "valid"},
		"subject": {"type": "user", "user_id": "u1", "system_role": "user"},
		"project": {"id": "p1", "public": false, "collaborator_role": "Developer"},
	}
		with authz.granted as false
	got.status == 403
	got.reasons == ["not_granted"]
	got.allow == false
}

test_decision_subject_without_a_known_system_role_is_malformed if {
	every role in [null, "", "VIEWER", "Admin", ["admin"]] {
		got := authz.decision with input as {
			"method": "GET",
			"path": "/api/v1/admin/users",
			"now": _now,
			"credential": {"status": "valid"},
			"subject": {"type": "user", "user_id": "u1", "system_role": role},
		}
		got.status == 401
		got.reasons == ["invalid_token"]
	}
}

# An input without a credential is an anonymous one.
test_decision_without_a_credential_field_is_anonymous if {
	public_read := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/projects/p1/builds",
		"now": _now,
		"project": {"id": "p1", "public": true, "collaborator_role": null},
	}
	public_read.status == 200
	private_read := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/projects/p1/builds",
		"now": _now,
		"project": _facts(null),
	}
	private_read.reasons == ["missing_token"]
}

# A subject is only well formed with a numeric clock to judge its expiry against.
test_decision_without_a_numeric_now_is_an_invalid_token if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/user",
		"now": "1800000000",
		"credential": {"status": "valid"},
		"subject": {"type": "user", "user_id": "u1", "system_role": "user"},
	}
	got.status == 401
	got.reasons == ["invalid_token"]
}

# An MCP token's decision names the projects of its live grants: unexpired, and the user still
# a collaborator (grant_roles).
test_decision_for_an_mcp_listing if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/mcp/projects",
		"now": _now,
		"credential": {"status": "valid"},
		"subject": {"type": "mcp_token", "token_id": "mt1", "user_id": "u1", "system_role": "user", "grants": [
			{"project_id": "p2", "expires_at": null, "allow_trigger": false},
			{"project_id": "p1", "expires_at": _now + 1, "allow_trigger": true},
			{"project_id": "p3", "expires_at": null, "allow_trigger": false},
		]},
		"grant_roles": {"p1": "Owner", "p2": "Developer", "p3": null},
	}
	got == {
		"allow": true,
		"status": 200,
		"reasons": [],
		"access": "read",
		"route": "/api/v1/mcp/projects",
		"project_id": null,
		"rate_limit_class": "default",
		"rate_limit_applies": true,
		"rate_limit_key": "user:u1",
		"trigger_allowed": false,
		"granted_projects": ["p1", "p2"],
		"mcp_tools": null,
	}
}

# An expired MCP token is refused: it names no usable projects either.
test_granted_projects_is_null_for_a_refused_mcp_token if {
	got := authz.decision with input as {
		"method": "GET",
		"path": "/api/v1/mcp/projects/p1/builds",
		"now": _now,
		"credential": {"status": "valid"},
		"subject": {
			"type": "mcp_token", "token_id": "t1", "user_id": "u1", "system_role": "user",
			"grants": [{"project_id": "p1", "allow_trigger": false}], "expires_at": _now - 1,
		},
		"project": {"id": "p1", "public": false, "collaborator_role": "Developer"},
		"grant_roles": {"p1": "Developer"},
	}
	got.status == 401
	got.reasons == ["expired_token"]
	got.granted_projects == null
}
