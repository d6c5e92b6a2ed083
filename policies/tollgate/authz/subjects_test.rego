# METADATA
# description: |
#   Rules of the per-subject files that today's route table cannot reach: a token never gets to
#   a route that needs more than the Developer role (such routes are sensitive, and the MCP area
#   has none), so the role check is tried here on a route spec given by the test.
package tollgate.authz.subjects_test

import data.tollgate.authz

_needs_administrator := {"access": "read", "class": "default", "sensitive": true}

_developer_in_p1 := {"id": "p1", "public": false, "collaborator_role": "Developer"}

test_a_global_token_needs_the_role_the_route_needs if {
	request := {
		"method": "GET", "path": "/api/v1/projects/p1/builds", "now": 1,
		"subject": {"type": "global_token", "user_id": "u1", "scopes": ["read"]},
		"project": _developer_in_p1,
	}
	denials := authz._global_token_denials with input as request with authz.route_spec as _needs_administrator
	denials == {"insufficient_role"}
}

test_an_mcp_token_needs_the_role_the_route_needs if {
	request := {
		"method": "GET", "path": "/api/v1/mcp/projects/p1/builds", "now": 1,
		"subject": {"type": "mcp_token", "user_id": "u1", "grants": [{"project_id": "p1", "expires_at": null}]},
		"project": _developer_in_p1,
	}
	denials := authz._mcp_denials with input as request with authz.route_spec as _needs_administrator
	denials == {"insufficient_role"}
}
