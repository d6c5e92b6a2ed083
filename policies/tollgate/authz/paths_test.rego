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
		"!$&'()*+,=:@", # sub-delims but ";", ":" and "@" are pchar
		_repeat("a", 256), # the longest segment
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
		"caf%c3%a9", # either letter case
		"%E2%82%AC", # "€", three octets
		"%F0%9F%98%80", # an emoji, four octets
		"%C2%80", "%DF%BF", # the ends of the two-octet range
		"%E0%A0%80", "%ED%9F%BF", "%EE%80%80", "%EF%BF%BF", # three octets, around the surrogates
		"%F0%90%80%80", "%F1%80%80%80", "%F3%BF%BF%BF", "%F4%8F%BF%BF", # four octets, up to U+10FFFF
		"a%C3%A9b%E2%82%ACc", # characters between literals
		"100%25", "%25zz", "%25", # a literal "%", not followed by two hex digits
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

test_path_parameters_are_invalid if {
	every segment in ["a;b", "restart;x=1", ";", ";a", "a;", "a%3Bb", "a%3bb", "abort%3B"] {
		not authz._valid_segment(segment)
	}
}

test_escaped_control_characters_are_invalid if {
	every segment in ["a%00", "a%01", "a%09", "a%0A", "a%0d", "a%1F", "a%1f", "a%7F", "a%7f"] {
		not authz._valid_segment(segment)
	}
}

test_double_encoding_is_invalid if {
	every segment in ["%2541", "%252e", "%252E", "%252F", "a%2500", "%25ff", "%25%2541"] {
		not authz._valid_segment(segment)
	}
}

test_invalid_utf8_escapes_are_invalid if {
	every segment in [
		"%80", "%BF", "a%A9", # a continuation octet without a lead
		"%C3", "%C3a", "%C3%41", "%C3%C3%A9", # a lead without its continuation
		"%C3a%A9", # something between the octets of one character
		"%C3%A9%A9", "%E2%82%AC%80", # one continuation too many
		"%E2%82", "%E2%82a", "%F0%9F%98", # a truncated sequence
		"%C0%AE", "%C1%BF", # overlong two-octet forms
		"%E0%80%AE", "%E0%9F%BF", # overlong three-octet forms
		"%F0%80%80%AE", "%F0%8F%BF%BF", # overlong four-octet forms
		"%ED%A0%80", "%ED%BF%BF", # UTF-16 surrogates
		"%F4%90%80%80", "%F5%80%80%80", "%F7%BF%BF%BF", # above U+10FFFF
		"%F8%88%80%80%80", "%FE", "%FF", # never octets of UTF-8
	] {
		not authz._valid_segment(segment)
	}
}

test_long_segments_are_invalid if {
	not authz._valid_segment(_repeat("a", 257))
	not authz._valid_segment(concat("", ["restart", _repeat("a", 15000)]))
	not authz._valid_segment(concat("", ["a", _repeat("%20", 86)]))
}

_repeat(text, n) := concat("", [text | some _ in numbers.range(1, n)])

test_malformed_escapes_are_invalid if {
	every segment in ["%", "a%", "%4", "b%4", "%zz", "%g0", "%0g", "%%41"] {
		not authz._valid_segment(segment)
	}
}

test_characters_outside_pchar_are_invalid if {
	every segment in [
		"", "a b", "a\\b", "a\"b", "a<b", "a>b", "a^b", "a`b", "a|b",
		"a{b", "a}b", "a[b", "a]b", "a\tb", "caf\u00e9", "a?b", "a#b", "a;b",
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
		"/api/v1/projects/p1/builds/b1/restart;x=1",
		"/api/v1/projects/p1/builds/b1/abort%3B",
		"/api/v1/projects/p1;x=1/builds",
	] {
		not authz._path_valid with input as {"path": path}
	}
}

# ---------------------------------------------------------------------------- case variants

# In a parameter's place, a segment that spells a literal sibling in another case is invalid:
# behind an upstream that routes case-insensitively it names the literal's route.
test_case_variants_of_a_literal_sibling_are_invalid if {
	every path in [
		"/api/v1/projects/p1/builds/b1/RESTART",
		"/api/v1/projects/p1/builds/b1/Restart",
		"/api/v1/projects/p1/builds/b1/Abort",
		"/api/v1/projects/p1/builds/b1/JOBS",
		"/api/v1/projects/p1/builds/b1/Cache",
		"/api/v1/projects/p1/builds/b1/RESTART?x=1",
		"/api/v1/mcp/tokens/EXCHANGE",
		"/api/v1/mcp/tokens/Temp",
		"/api/v1/projects/p1/collaborators/ROLES",
	] {
		not authz._path_valid with input as {"path": path}
	}
}

# Elsewhere upper case is an ordinary id, or a literal that names no route (unknown_route).
test_upper_case_outside_a_literal_sibling_is_valid if {
	every path in [
		"/api/v1/projects/MyProject/builds/B1/jobs",
		"/api/v1/projects/RESTART/builds",
		"/api/v1/projects/p1/builds/RESTART",
		"/api/v1/projects/p1/BUILDS",
		"/api/v1/PROJECTS",
		"/api/v1/projects/p1/jobs/j1/Abort", # no parameter beside jobs/{job}/abort
		"/api/v1/projects/p1/builds/b1/Cache/clear", # no parameter in the place of "cache" here
		"/api/v1/mcp/tokens/Tempo",
		"/api/v1/projects/p1/builds/b1/restart?X=RESTART", # the query is not the path
	] {
		authz._path_valid with input as {"path": path}
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

# A path costs time in proportion to its length: past 2048 bytes (the query not counted) it is
# refused before any segment is looked at, whatever its segments.
test_paths_over_the_length_cap_are_invalid if {
	segments := concat("/", [_repeat("a", 200) | some _ in numbers.range(1, 11)])
	at_cap := concat("", ["/api/v1/", substring(segments, 0, 2040)])
	count(at_cap) == 2048
	authz._path_valid with input as {"path": at_cap}
	authz._path_valid with input as {"path": concat("", [at_cap, "?q=", _repeat("x", 5000)])}
	not authz._path_valid with input as {"path": concat("", [at_cap, "a"])}
}
