# METADATA
# title: Tollgate's own admin API
# description: |
#   Who may call /v1/admin/*: the operator's admin token, or a session of a user whose
#   system role is admin. The TypeScript layer checks the token and the JWT; this decides.
package tollgate.admin

# METADATA
# description: True when the caller may use the admin API.
# entrypoint: true
default allow := false

allow if input.admin_token == true

allow if {
	input.credential.status == "valid"
	input.subject.type == "user"
	input.subject.system_role == "admin"
}
