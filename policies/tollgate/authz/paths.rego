# Request path validation
#
# A path is checked as received and never normalized: a path that could be read two ways
# (dot segments, empty segments, encoded separators, path parameters, bad or needless
# percent-encoding, a case variant of a route's literal) is invalid rather than rewritten into
# some other route. No regular expressions: opa-wasm compiles them again on every evaluation.
package tollgate.authz

# The path without its query string. A fragment never belongs in a request target.
_path_only := split(input.path, "?")[0]

_path_segments := split(_path_only, "/")

default _path_valid := false

# Most paths are plain: unreserved characters and "/" only (so no query, fragment or escape),
# short enough that no segment can be too long, no empty or dot segment. Checked whole, with the
# path itself and literal cutsets rather than the rules below: OPA's Go evaluator pays for every
# rule it looks up. Any other path takes the general check.
_path_valid if {
	is_string(input.path)
	trim(input.path, "/abcdefghijklmnopqrstuvwxyz0123456789-._~ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
	startswith(input.path, "/")
	count(input.path) <= 256
	not contains(input.path, "//")
	not endswith(input.path, "/")
	not contains(input.path, "/./")
	not contains(input.path, "/../")
	not endswith(input.path, "/.")
	not endswith(input.path, "/..")
	not _shadows_a_literal
} else if {
	is_string(input.path)
	startswith(input.path, "/")
	count(_path_only) <= _max_path_length
	not contains(input.path, "#")
	_segments_valid
	not _shadows_a_literal
}

# The path without its query: plain (see above), checked whole by one trim(), or segment by
# segment.
_segments_valid if {
	trim(_path_only, _plain_path_characters) == ""
	count(_path_only) <= _max_segment_length
	not contains(_path_only, "//")
	not endswith(_path_only, "/")
	not contains(_path_with_slash, "/./")
	not contains(_path_with_slash, "/../")
} else if {
	count(_path_segments) > 1
	every segment in array.slice(_path_segments, 1, count(_path_segments)) {
		_valid_segment(segment)
	}
}

# Cutsets list the usual characters first: opa-wasm's trim() scans the cutset for every character.
_plain_path_characters := "/abcdefghijklmnopqrstuvwxyz0123456789-._~ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# With a final "/", every dot segment is "/./" or "/../".
_path_with_slash := concat("", [_path_only, "/"])

# Most segments are plain words; trim() with the unreserved characters as its cutset leaves
# nothing of them.
_unreserved := "abcdefghijklmnopqrstuvwxyz0123456789-._~ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# RFC 3986 pchar without ";" (Tomcat and Jetty cut a segment at ";", so "restart;x=1" would be
# "restart" to them), and "%" to start an escape.
_segment_characters := "abcdefghijklmnopqrstuvwxyz0123456789-._~%ABCDEFGHIJKLMNOPQRSTUVWXYZ!$&'()*+,=:@"

# Longer segments are no id and no route literal; they only cost evaluation time.
_max_segment_length := 256

# No route is near this long (ten segments of 128-byte ids), and validating a path costs time
# in proportion to its length: a longer one is refused before any segment is looked at.
_max_path_length := 2048

_valid_segment(segment) if {
	segment != ""
	count(segment) <= _max_segment_length
	trim(segment, _unreserved) == ""
	not segment in {".", ".."}
}

_valid_segment(segment) if {
	count(segment) <= _max_segment_length
	trim(segment, _unreserved) != ""
	trim(segment, _segment_characters) == ""
	_valid_escapes(split(segment, "%"))
}

# parts: the segment split at "%"; every part after the first starts with an escape's two hex
# digits. Each escaped octet must be allowed on its own (ASCII) or belong to a well-formed UTF-8
# sequence of adjacent escapes.
_valid_escapes(parts) if {
	escapes := array.slice(parts, 1, count(parts))
	every escape in escapes {
		_hex_pair(substring(escape, 0, 2))
	}
	octets := [upper(substring(escape, 0, 2)) | some escape in escapes]
	every i, octet in octets {
		_valid_octet(octet, i, octets, escapes)
	}
}

_hex_pair(text) if {
	count(text) == 2
	trim(text, "0123456789ABCDEFabcdef") == ""
}

# The ASCII characters whose escape is the only spelling that means what it means: separators
# ("/", "\"), unreserved characters (their literal is the one spelling), ";" and control
# characters are refused; so is "%25" followed by two hex digits (double encoding).
_escapable_ascii := {
	"20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "2A", "2B", "2C",
	"3A", "3C", "3D", "3E", "3F", "40", "5B", "5D", "5E", "60", "7B", "7C", "7D",
}

_valid_octet(octet, i, _, escapes) if {
	octet in _escapable_ascii
	not _double_encoded(octet, escapes[i])
}

# A UTF-8 lead octet: the escapes that complete its character follow with nothing in between,
# and the second octet is in the range that rules out overlong forms, surrogates and code
# points above U+10FFFF.
_valid_octet(octet, i, octets, escapes) if {
	[length, low, high] := _utf8_lead(octet)
	i + length < count(octets)
	octets[i + 1] >= low
	octets[i + 1] <= high
	every escape in array.slice(escapes, i, i + length) {
		count(escape) == 2
	}
	every continuation in array.slice(octets, i + 2, (i + length) + 1) {
		_utf8_continuation(continuation)
	}
}

# A continuation octet, counted by a lead octet at most three escapes before it.
_valid_octet(octet, i, octets, escapes) if {
	_utf8_continuation(octet)
	some distance in [1, 2, 3]
	[length, _, _] := _utf8_lead(octets[i - distance])
	length >= distance
	every escape in array.slice(escapes, i - distance, i) {
		count(escape) == 2
	}
}

_double_encoded("25", escape) if _hex_pair(substring(escape, 2, 2))

# Octets are compared as upper-case hex pairs: for two such pairs, string order is numeric order.
_utf8_continuation(octet) if {
	octet >= "80"
	octet <= "BF"
}

# [continuation octets, lowest and highest second octet] of each UTF-8 lead octet (RFC 3629).
# C0, C1 and F5-FF never begin a character.
_utf8_lead(octet) := [1, "80", "BF"] if {
	octet >= "C2"
	octet <= "DF"
}

_utf8_lead("E0") := [2, "A0", "BF"]

_utf8_lead(octet) := [2, "80", "BF"] if {
	octet >= "E1"
	octet <= "EF"
	octet != "ED"
}

_utf8_lead("ED") := [2, "80", "9F"]

_utf8_lead("F0") := [3, "90", "BF"]

_utf8_lead(octet) := [3, "80", "BF"] if {
	octet >= "F1"
	octet <= "F3"
}

_utf8_lead("F4") := [3, "80", "8F"]

# A segment in a parameter's place that spells a literal sibling in another case ("RESTART"
# beside ".../builds/{build}/restart") names the literal's route to an upstream that routes
# case-insensitively. Route literals are lower case, so only a path with an upper-case letter
# can do this; the others skip the walk (route_tree.rego).
_shadows_a_literal if {
	lower(input.path) != input.path
	_route_shadowed(_path_segments)
}
