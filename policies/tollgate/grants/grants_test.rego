package tollgate.grants_test

import data.tollgate.grants

_roles := {"p1": "Developer", "p2": "Owner", "p3": null}

test_grants_on_own_projects_pass if {
	grants.violations == [] with input as {
		"system_role": "user",
		"roles": _roles,
		"grants": [{"project_id": "p1", "allow_trigger": true}, {"project_id": "p2", "allow_trigger": false}],
	}
}

test_grant_on_foreign_or_unknown_project_refused if {
	grants.violations == [
		{"index": 0, "field": "grants.0.project_id", "reason": "not_collaborator"},
		{"index": 1, "field": "grants.1.project_id", "reason": "not_collaborator"},
	] with input as {
		"system_role": "user",
		"roles": _roles,
		"grants": [{"project_id": "p3", "allow_trigger": false}, {"project_id": "p9", "allow_trigger": true}],
	}
}

test_trigger_needs_a_role_that_may_write if {
	grants.violations == [{"index": 0, "field": "grants.0.project_id", "reason": "insufficient_role"}] with input as {
		"system_role": "viewer",
		"roles": _roles,
		"grants": [{"project_id": "p2", "allow_trigger": true}],
	}
}

test_unknown_role_is_no_collaboration if {
	grants.violations == [{"index": 0, "field": "grants.0.project_id", "reason": "not_collaborator"}] with input as {
		"system_role": "user",
		"roles": {"p1": "Guest"},
		"grants": [{"project_id": "p1", "allow_trigger": true}],
	}
}

test_no_grants_no_violations if {
	grants.violations == [] with input as {"system_role": "user", "roles": {}, "grants": []}
}
