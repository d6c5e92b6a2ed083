# METADATA
# description: |
#   The generated route tree (route_tree.rego) against the reference matcher that walks the whole
#   route table (route_oracle_test.rego), on every path made from a pattern of the table by
#   putting one of a set of awkward segments in one place, cutting it short or extending it.
#   test/engine/route-tree.test.ts does the same on random paths.
package tollgate.route_tree_test

import data.tollgate.authz
import data.tollgate.route_oracle as oracle

# Parameters of each type, literals of the table in other cases, and segments of no type.
_samples := [
	"7", "v1", "restart", "RESTART", "Restart", "temp", "TEMP", "roles", "Roles",
	"jobs", "JOBS", "-x", "1234567890", "a.b",
]

_variants(pattern) := {path |
	segments := split(pattern, "/")
	some i in numbers.range(3, count(segments) - 1)
	some path in _variants_at(segments, i)
}

_variants_at(segments, i) := {path |
	some sample in _samples
	before := array.slice(segments, 0, i)
	after := array.slice(segments, i + 1, count(segments))
	path := concat("/", array.concat(array.concat(before, [sample]), after))
} | {concat("/", array.slice(segments, 0, i)), concat("/", array.concat(segments, [segments[i]]))}

_paths contains path if {
	some pattern, _ in authz.route_table
	some path in _variants(_instantiate(pattern))
}

# Each parameter replaced by a value of its type.
_instantiate(pattern) := concat("/", [_sample(segment) | some segment in split(pattern, "/")])

_sample("{restart_counter}") := "1"

_sample(segment) := "p1" if {
	startswith(segment, "{")
	segment != "{restart_counter}"
}

_sample(segment) := segment if not startswith(segment, "{")

test_the_tree_answers_like_the_table_on_generated_paths if {
	count(_paths) > 2000
	differing := {path |
		some path in _paths
		oracle.tree_answer("GET", path) != oracle.answer("GET", path)
	}
	print("tree and table differ on:", differing)
	count(differing) == 0
}

# The method only picks the matched pattern's entry.
test_the_tree_answers_like_the_table_for_every_method if {
	differing := {[method, path] |
		some pattern, _ in authz.route_table
		path := _instantiate(pattern)
		some method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
		oracle.tree_answer(method, path) != oracle.answer(method, path)
	}
	print("tree and table differ on:", differing)
	count(differing) == 0
}

# The generated paths reach what the comparison must cover: matches, misses and shadowing.
test_the_generated_paths_cover_matches_misses_and_shadows if {
	answers := [answer |
		some path in _paths
		answer := oracle.answer("GET", path)
	]
	some matched in answers
	matched.route.spec != null
	some unlisted in answers
	unlisted.route.spec == null
	some missed in answers
	missed.route == null
	some shadowed in answers
	shadowed.shadowed
}

# A GET's tools/list answer is filtered where the pattern's POST carries MCP messages; the tree
# names those patterns from the table.
test_the_tree_names_the_patterns_whose_post_is_an_mcp_message if {
	from_table := {pattern | some pattern, methods in authz.route_table; methods.POST.mcp == true}
	count(from_table) > 0
	from_tree := {pattern | some pattern, _ in authz.route_table; authz._route_posts_mcp_messages(pattern)}
	from_tree == from_table
}
