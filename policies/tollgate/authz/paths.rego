# Request path validation
#
# A path is checked as received and never normalized: a path that could be read two ways
# (dot segments, empty segments, encoded separators, NUL, bad or needless percent-encoding)
# is invalid rather than rewritten into some other route.
package tollgate.authz

# The path without its query string. A fragment never belongs in a request target.
_path_only := split(input.path, "?")[0]

_path_segments := split(_path_only, "/")

# RFC 3986 pchar: unreserved, sub-delims, ":" and "@", or a percent-encoded octet.
_pchar_segment := `^(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+$`

# Percent-encodings that would decode to a separator ("/" or "\"), NUL, or an unreserved
# character (which has exactly one spelling: its literal form).
_forbidden_escape := `%(?:2[DEFdef]|3[0-9]|4[1-9A-Fa-f]|5[0-9AaCcFf]|6[1-9A-Fa-f]|7[0-9AaEe]|00)`

default _path_valid := false

_path_valid if {
	is_string(input.path)
	startswith(input.path, "/")
	not contains(input.path, "#")
	count(_path_segments) > 1
	every segment in array.slice(_path_segments, 1, count(_path_segments)) {
		_valid_segment(segment)
	}
}

# Most segments are plain words; trim() with the unreserved characters as its cutset leaves
# nothing of them, which is far cheaper than a regular expression (compiled on every call).
_unreserved := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

_valid_segment(segment) if {
	segment != ""
	trim(segment, _unreserved) == ""
	not segment in {".", ".."}
}

_valid_segment(segment) if {
	trim(segment, _unreserved) != ""
	regex.match(_pchar_segment, segment)
	not regex.match(_forbidden_escape, segment)
}
