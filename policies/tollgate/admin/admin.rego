# METADATA
# title: Tollgate's own admin API
# description: |
#   Who may call /v1/admin/*: the operator's admin token, or a session of a user whose
#   system role is admin. The TypeScript layer checks the token and the JWT and counts failed
#   attempts per client address; this decides, like the decision entrypoint: a first evaluation
#   says whether the attempt counts as a failure, and once the count is over its limit a second
#   evaluation (with failures.exceeded) refuses every attempt, a correct credential included.
package tollgate.admin

# METADATA
# description: |
#   The answer for an admin API request: allow, the HTTP status, the refusal's reason code
#   (null when allowed) and whether the attempt counts against the failure limit.
# entrypoint: true
decision := _refusal("rate_limited", 429) if {
	input.failures.exceeded == true
} else := {"allow": true, "status": 200, "reason": null, "count_failure": false} if {
	_accepted
} else := _refusal("missing_token", 401) if {
	not input.authorization
} else := _refusal(_bad_credential_reason, 401) if {
	input.credential.status != "valid"
} else := _refusal("insufficient_role", 403)

_accepted if input.admin_token == true

_accepted if {
	input.credential.status == "valid"
	input.subject.type == "user"
	input.subject.system_role == "admin"
}

# Every refusal but one of an accepted credential (over the limit) is a failed attempt.
_refusal(reason, status) := {"allow": false, "status": status, "reason": reason, "count_failure": _count_failure}

default _count_failure := true

_count_failure := false if _accepted

_bad_credential_reasons := {"expired": "expired_token", "revoked": "revoked_token"}

# Any status but expired or revoked (invalid, none for a blank header, one this policy does
# not know) is an invalid credential.
_bad_credential_reason := object.get(_bad_credential_reasons, input.credential.status, "invalid_token")
