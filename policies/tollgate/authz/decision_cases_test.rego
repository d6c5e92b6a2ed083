# METADATA
# description: |
#   Runs the shared decision cases (decision_cases/cases.json, loaded as data.decision_cases)
#   through the decision entrypoint. The vitest suite runs the same file through the shipped
#   WASM, so both evaluators are held to one expectation per case. Each case compares only the
#   fields its "expect" lists; a case that disagrees is printed with the fields that differ.
package tollgate.decision_cases_test

import data.tollgate.authz

# The decision fields a case may pin down, and the ones every case must list.
_decision_fields := {
	"allow", "status", "reasons", "access", "route", "project_id",
	"rate_limit_class", "rate_limit_applies", "rate_limit_key", "trigger_allowed", "granted_projects",
	"mcp_tools",
}

_required_fields := {"allow", "status", "reasons"}

_now := 1800000000

# test/policy/decision_cases/cases.json, loaded by `opa test policies test/policy`.
cases := data.decision_cases.cases

# Every case, evaluated as the engine would evaluate its input. A case that disagrees with its
# expectation is printed with each differing field, expected beside got.
test_every_decision_case_matches if {
	failing := {c.name |
		some c in cases
		got := authz.decision with input as c.input
		differences := _differences(c.expect, got)
		count(differences) > 0
		print("case disagrees:", c.name, differences)
	}
	count(failing) == 0
}

_differences(expect, got) := {field: {"expected": expected, "got": object.get(got, field, "<absent>")} |
	some field, expected in expect
	object.get(got, field, "<absent>") != expected
}

# Malformed cases would silently compare less than intended.
_malformed(all_cases) := {sprintf("%s: %s", [name, problem]) |
	some c in all_cases
	name := object.get(c, "name", "<unnamed>")
	some problem in _problems(c)
}

_problems(c) := {problem |
	some check, problem in {
		"name": "name must be a non-empty string",
		"input": "input must be an object",
		"expect": "expect must be an object",
		"required": "expect must list allow, status and reasons",
		"fields": "expect lists a field the decision does not have",
		"sorted": "expected reasons must be sorted and unique",
		"consistent": "allow must be true exactly when status is 200",
		"now": "input.now must be 1800000000",
	}
	not _passes(check, c)
}

_passes("name", c) if {
	is_string(c.name)
	c.name != ""
}

_passes("input", c) if is_object(c.input)

_passes("expect", c) if is_object(c.expect)

_passes("required", c) if {
	every field in _required_fields {
		field in object.keys(c.expect)
	}
}

_passes("fields", c) if {
	every field, _ in c.expect {
		field in _decision_fields
	}
}

_passes("sorted", c) if {
	is_array(c.expect.reasons)
	c.expect.reasons == sort({reason | some reason in c.expect.reasons})
}

_passes("consistent", c) if {
	c.expect.allow == true
	c.expect.status == 200
}

_passes("consistent", c) if {
	c.expect.allow == false
	c.expect.status != 200
}

_passes("now", c) if c.input.now == _now

test_cases_are_well_formed if {
	malformed := _malformed(cases)
	print("malformed cases:", malformed)
	count(malformed) == 0
}

# The well-formedness check itself rejects each kind of bad case.
test_malformed_cases_are_detected if {
	good := {
		"name": "good",
		"input": {"method": "GET", "path": "/api/v1/user", "now": _now},
		"expect": {"allow": true, "status": 200, "reasons": []},
	}
	_malformed([good]) == set()
	_malformed([
		object.union(good, {"name": ""}),
		_variant(good, "input", "input", []),
		_variant(good, "expect", "expect", "allow"),
		_variant(good, "required", "expect", {"allow": true, "status": 200}),
		_variant(good, "fields", "expect", {"allow": true, "status": 200, "reasons": [], "ok": 1}),
		_variant(good, "sorted", "expect", {"allow": false, "status": 403, "reasons": ["b", "a"]}),
		_variant(good, "consistent", "expect", {"allow": true, "status": 403, "reasons": []}),
		_variant(good, "now", "input", {"now": 0}),
	]) == {
		": name must be a non-empty string",
		"input: input must be an object",
		"expect: expect must be an object",
		"expect: expect must list allow, status and reasons",
		"expect: expect lists a field the decision does not have",
		"expect: expected reasons must be sorted and unique",
		"expect: allow must be true exactly when status is 200",
		"input: input.now must be 1800000000",
		"required: expect must list allow, status and reasons",
		"required: expected reasons must be sorted and unique",
		"fields: expect lists a field the decision does not have",
		"sorted: expected reasons must be sorted and unique",
		"consistent: allow must be true exactly when status is 200",
		"now: input.now must be 1800000000",
	}
}

# A copy of a case under another name with one top-level field replaced outright.
_variant(c, name, field, value) := object.union(object.remove(c, ["name", field]), {"name": name, field: value})

test_differences_name_each_field_that_disagrees if {
	got := {"allow": false, "status": 403, "reasons": ["not_collaborator"], "route": null}
	_differences({"allow": false, "status": 403, "reasons": ["not_collaborator"]}, got) == {}
	_differences({"allow": true, "status": 403, "rate_limit_key": null}, got) == {
		"allow": {"expected": true, "got": false},
		"rate_limit_key": {"expected": null, "got": "<absent>"},
	}
}

test_case_names_are_unique if {
	names := [c.name | some c in cases]
	count({name | some name in names}) == count(names)
}

test_there_are_enough_cases if {
	count(cases) >= 150
}

# Every stage and every reason code the spec names is exercised by at least one case.
test_cases_cover_every_status_and_reason if {
	statuses := {c.expect.status | some c in cases}
	statuses == {200, 400, 401, 403, 429}
	reasons := {reason | some c in cases; some reason in c.expect.reasons}
	missing := {
		"invalid_path", "unknown_route", "missing_token", "invalid_token", "expired_token",
		"revoked_token", "rate_limited", "not_collaborator", "insufficient_scope",
		"insufficient_role", "sensitive_endpoint", "project_mismatch",
		"token_not_allowed_on_path", "grant_missing", "grant_expired", "trigger_not_allowed",
	} - reasons
	print("reason codes no case expects:", missing)
	count(missing) == 0
}

# Every subject type, and anonymous callers, appear in allowed and in denied cases.
test_cases_cover_every_subject_both_ways if {
	kinds := {"anonymous", "user", "global_token", "project_token", "mcp_token"}
	every kind in kinds {
		some allowed in cases
		allowed.expect.allow == true
		_kind(allowed.input) == kind
		some denied in cases
		denied.expect.allow == false
		_kind(denied.input) == kind
	}
}

default _kind(_) := "anonymous"

_kind(input_doc) := input_doc.subject.type
