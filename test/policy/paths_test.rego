# METADATA
# description: |
#   Path validation, segment by segment and for whole request targets. A path is judged as
#   received: anything that could be read two ways is invalid, never normalized.
package tollgate.authz.paths_test

import data.tollgate.authz

# ---------------------------------------------------------------------------- segments

test_plain_segments_are_valid if {
	every segment in [
		"p1", "api", "v1", "my-project", "a.b", "a_b", "a~b", "2024",
		"..a", "a..", "...", # dots are only special as a whole "." or ".." segment
		"!$&'()*+,;=:@", # sub-delims, ":" and "@" are pchar
	] {
		authz._valid_segment(segment)
	}
}

test_escapes_of_reserved_and_non_ascii_octets_are_valid if {
	every segment in [
		"my%20project", # space
		"100%25", # "%" itself
		"a%2Bb", # "+" (sub-delim: its escape means something else than the literal)
		"a%3Ab", # ":"
		"a%3fb", # "?"
		"a%40b", # "@"
		"a%5Bb%5D", # "[" and "]"
		"a%60b", # "`"
		"a%7Bb%7D", # "{" and "}"
		"caf%C3%A9", # UTF-8 for "é"
	] {
		authz._valid_segment(segment)
	}
}

test_dot_segments_are_invalid if {
	not authz._valid_segment(".")
	not authz._valid_segment("..")
}

# Each escape of a separator, NUL or unreserved character, in both letter cases where the
# escape has a letter.
test_forbidden_escapes_are_invalid if {
	every segment in [
		"%2e", "%2E", "%2e%2e", "%2E%2E", ".%2e", "%2e.", # "."
		"a%2Fb", "a%2fb", # "/"
		"a%5Cb", "a%5cb", # "\"
		"a%00b", # NUL
		"a%2Db", "a%2db", # "-"
		"a%30", "a%39", # digits
		"%41", "%4F", "%4f", "%5A", "%5a", "%50", # upper-case letters
		"a%5Fb", "a%5fb", # "_"
		"%61", "%6F", "%6f", "%70", "%7A", "%7a", # lower-case letters
		"build%73", # needless escape inside a literal
		"a%7Eb", "a%7eb", # "~"
	] {
		not authz._valid_segment(segment)
	}
}

test_malformed_escapes_are_invalid if {
	every segment in ["%", "a%", "%4", "b%4", "%zz", "%g0", "%0g", "%%41"] {
		not authz._valid_segment(segment)
	}
}

test_characters_outside_pchar_are_invalid if {
	every segment in [
		"", "a b", "a\\b", "a\"b", "a<b", "a>b", "a^b", "a`b", "a|b",
		"a{b", "a}b", "a[b", "a]b", "a\tb", "caf\u00e9", "a?b", "a#b",
	] {
		not authz._valid_segment(segment)
	}
}

# ---------------------------------------------------------------------------- whole paths

test_valid_paths if {
	every path in [
		"/api",
		"/api/v1/projects/p1/builds",
		"/api/v1/projects/p1/builds?x=1",
		"/api/v1/projects/p1/builds?",
		"/api/v1/projects/p1/builds?next=/../admin&x=%zz", # the query is not the path
		"/api/v1/projects/my%20project",
		"/no/such/route", # validity says nothing about routing
	] {
		authz._path_valid with input as {"path": path}
	}
}

test_invalid_paths if {
	every path in [
		"",
		"/",
		"//",
		"api/v1/projects",
		"?x=1",
		"/api/v1/projects/",
		"/api/v1//projects",
		"/api/v1/projects/p1/builds/?x=1",
		"/api/v1/projects/p1/./builds",
		"/api/v1/projects/p1/../p2",
		"/api/v1/projects/p1/%2e%2e/p2",
		"/api/v1/projects/p1%2Fbuilds",
		"/api/v1/projects/p1\\builds",
		"/api/v1/projects/p1#builds",
		"/api/v1/projects/p1?x=1#top",
		"/api/v1/projects/p1%00",
		"/api/v1/build%73",
	] {
		not authz._path_valid with input as {"path": path}
	}
}

test_non_string_paths_are_invalid if {
	every path in [null, 1, true, ["/api/v1/user"], {"path": "/api/v1/user"}] {
		not authz._path_valid with input as {"path": path}
	}
}

test_a_missing_path_is_invalid if {
	not authz._path_valid with input as {"method": "GET"}
}

test_the_query_is_cut_at_the_first_question_mark if {
	segments := authz._path_segments with input as {"path": "/api/v1/projects/p1?a=1?b=/x"}
	segments == ["", "api", "v1", "projects", "p1"]
}
