# METADATA
# description: |
#   The reference matcher: walks the whole route table for every request, the way the policy
#   did before the route tree. Never part of the decision (it is not under policies/); the
#   tests hold the generated tree to its answers. Functions of the path rather than rules of
#   the input, so one query compares thousands of paths with the table built once.
package tollgate.route_oracle

import data.tollgate.authz

_segments(path) := split(split(path, "?")[0], "/")

_table_segments[pattern] := split(pattern, "/") if some pattern, _ in authz.route_table

# Patterns whose segments line up with the path, a parameter standing for any segment.
shapes(path) := {pattern |
	segments := _segments(path)
	some pattern, pattern_segments in _table_segments
	count(pattern_segments) == count(segments)
	every i, expected in pattern_segments {
		_fits_shape(expected, segments[i])
	}
}

_fits_shape(expected, actual) if expected == actual

_fits_shape(expected, _) if _is_parameter(expected)

# The patterns that match the path, each parameter with a segment of its type.
candidates(path) := {pattern |
	segments := _segments(path)
	some pattern in shapes(path)
	every i, expected in _table_segments[pattern] {
		_segment_matches(expected, segments[i])
	}
}

_segment_matches(expected, actual) if {
	not _is_parameter(expected)
	expected == actual
}

_segment_matches(expected, actual) if {
	_is_parameter(expected)
	has_type(object.get(authz.param_types, trim(expected, "{}"), "id"), actual)
}

has_type("id", segment) if authz._is_id(segment)

has_type("digits", segment) if authz._is_digits(segment)

_is_parameter(segment) if startswith(segment, "{")

# One character per segment, "1" for a literal and "0" for a parameter. Strings of equal
# length compare left to right, so the highest one has its literals earliest.
specificity(pattern) := concat("", [_literal_flag(segment) | some segment in split(pattern, "/")])

_literal_flag(segment) := "0" if _is_parameter(segment)

_literal_flag(segment) := "1" if not _is_parameter(segment)

# The most specific candidate: a literal segment always beats a parameter at the same position.
matched_pattern(path) := pattern if {
	found := candidates(path)
	best := max({specificity(candidate) | some candidate in found})
	some pattern in found
	specificity(pattern) == best
}

route_params(path) := {name: segments[i] |
	segments := _segments(path)
	some i, segment in _table_segments[matched_pattern(path)]
	_is_parameter(segment)
	name := trim(segment, "{}")
}

# A segment in a parameter's place that spells a literal sibling in another case.
shadows_a_literal(path) if {
	segments := _segments(path)
	some pattern in shapes(path)
	pattern_segments := _table_segments[pattern]
	some i, expected in pattern_segments
	_is_parameter(expected)
	lowered := lower(segments[i])
	lowered != segments[i]
	not _is_parameter(lowered) # a literal sibling, not the parameter's own name
	sibling := concat("/", array.concat(array.slice(pattern_segments, 0, i), [lowered]))
	some other, _ in authz.route_table
	_in_tree(other, sibling)
}

_in_tree(pattern, root) if pattern == root

_in_tree(pattern, root) if startswith(pattern, concat("", [root, "/"]))

# What the tree must answer: pattern, namespace, parameters and the method's entry (null when
# the method is not listed), or null when no pattern matches; and whether the path shadows a
# literal.
answer(method, path) := {"route": _route_or_null(method, path), "shadowed": _shadowed(path)}

_route_or_null(method, path) := {
	"pattern": pattern,
	"namespace": authz.namespace(pattern),
	"params": route_params(path),
	"spec": object.get(methods, method, null),
} if {
	pattern := matched_pattern(path)
	methods := authz.route_table[pattern]
} else := null

_shadowed(path) if shadows_a_literal(path)

else := false

# The route tree's answer to the same question.
tree_answer(method, path) := {"route": _tree_route_or_null(method, path), "shadowed": _tree_shadowed(path)}

_tree_route_or_null(method, path) := route if {
	route := authz._route_walk(_segments(path), method)
} else := null

_tree_shadowed(path) if authz._route_shadowed(_segments(path))

else := false
