package tollgate.admin_test

import data.tollgate.admin

_allowed := {"allow": true, "status": 200, "reason": null, "count_failure": false}

_failure(reason, status) := {"allow": false, "status": status, "reason": reason, "count_failure": true}

_admin_session := {
	"authorization": true,
	"credential": {"status": "valid"},
	"subject": {"type": "user", "system_role": "admin"},
}

_bad_credential_reasons := {
	"invalid": "invalid_token",
	"expired": "expired_token",
	"revoked": "revoked_token",
	"none": "invalid_token",
	"weird": "invalid_token",
}

test_admin_token_allowed if {
	admin.decision == _allowed with input as {"admin_token": true, "authorization": true, "credential": {"status": "none"}}
}

test_admin_session_allowed if admin.decision == _allowed with input as _admin_session

test_no_credential_is_missing_token if {
	no_credential := {"admin_token": false, "authorization": false, "credential": {"status": "none"}}
	admin.decision == _failure("missing_token", 401) with input as no_credential
}

test_nothing_is_missing_token if admin.decision == _failure("missing_token", 401) with input as {}

test_bad_credentials_are_their_reason if {
	every status, reason in _bad_credential_reasons {
		bad := {"admin_token": false, "authorization": true, "credential": {"status": status}}
		admin.decision == _failure(reason, 401) with input as bad
	}
}

test_expired_admin_session_is_expired_token if {
	admin.decision == _failure("expired_token", 401) with input as {
		"authorization": true,
		"credential": {"status": "expired"},
		"subject": {"type": "user", "system_role": "admin"},
	}
}

test_user_session_is_insufficient_role if {
	admin.decision == _failure("insufficient_role", 403) with input as {
		"authorization": true,
		"credential": {"status": "valid"},
		"subject": {"type": "user", "system_role": "user"},
	}
}

test_admin_owned_token_is_insufficient_role if {
	admin.decision == _failure("insufficient_role", 403) with input as {
		"authorization": true,
		"credential": {"status": "valid"},
		"subject": {"type": "global_token", "system_role": "admin"},
	}
}

test_over_the_limit_refuses_a_bad_credential_as_a_failure if {
	over := {"authorization": true, "credential": {"status": "invalid"}, "failures": {"exceeded": true}}
	admin.decision == _failure("rate_limited", 429) with input as over
}

test_over_the_limit_refuses_an_accepted_credential_without_counting_it if {
	over := object.union(_admin_session, {"failures": {"exceeded": true}})
	admin.decision == {"allow": false, "status": 429, "reason": "rate_limited", "count_failure": false} with input as over
}

test_under_the_limit_decides_on_the_credential if {
	admin.decision == _allowed with input as object.union(_admin_session, {"failures": {"exceeded": false}})
}

# The shared admin cases (test/policy/admin_cases/cases.json, loaded as data.admin_cases by
# `opa test policies test/policy`); test/engine/admin-cases.test.ts runs them through the WASM.
test_every_admin_case_matches if {
	count(data.admin_cases.cases) > 10
	failing := {c.name |
		some c in data.admin_cases.cases
		got := admin.decision with input as c.input
		got != c.expect
		print("admin case disagrees:", c.name, "expected", c.expect, "got", got)
	}
	count(failing) == 0
}
