package tollgate.admin_test

import data.tollgate.admin

test_admin_token_allows if admin.allow with input as {"admin_token": true}

test_admin_session_allows if {
	admin.allow with input as {"credential": {"status": "valid"}, "subject": {"type": "user", "system_role": "admin"}}
}

test_user_session_denied if {
	not admin.allow with input as {"credential": {"status": "valid"}, "subject": {"type": "user", "system_role": "user"}}
}

test_admin_owned_token_denied if {
	not admin.allow with input as {
		"credential": {"status": "valid"},
		"subject": {"type": "global_token", "system_role": "admin"},
	}
}

test_expired_admin_session_denied if {
	not admin.allow with input as {
		"credential": {"status": "expired"},
		"subject": {"type": "user", "system_role": "admin"},
	}
}

test_nothing_denied if not admin.allow with input as {}
