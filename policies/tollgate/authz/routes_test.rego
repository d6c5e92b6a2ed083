# METADATA
# description: |
#   The route table's invariants (no ambiguous patterns, well-formed entries, every pattern
#   reachable from a concrete path), namespace(), the reference matcher's specificity() and
#   pattern matching by the route tree.
package tollgate.authz.routes_test

import data.tollgate.authz
import data.tollgate.route_oracle as oracle

_methods := {"GET", "POST", "PUT", "PATCH", "DELETE"}

_accesses := {"read", "write"}

_classes := {"default", "log", "artifact", "trigger"}

_spec_keys := {"access", "class", "sensitive", "owner_only", "anonymous", "mcp", "mcp_endpoint"}

# ---------------------------------------------------------------------------- ambiguity

# A pattern with every parameter name erased: two patterns with the same shape match exactly
# the same paths, so which one a request names would depend on nothing but their names.
_shape(pattern) := concat("/", [_erase(segment) | some segment in split(pattern, "/")])

_erase(segment) := "{}" if startswith(segment, "{")

_erase(segment) := segment if not startswith(segment, "{")

_ambiguous_pairs(table) := {[a, b] |
	some a, _ in table
	some b, _ in table
	a < b
	_shape(a) == _shape(b)
}

test_no_two_patterns_differ_only_in_parameter_names if {
	pairs := _ambiguous_pairs(authz.route_table)
	print("ambiguous patterns:", pairs)
	count(pairs) == 0
}

# The check itself finds what it is meant to find.
test_ambiguity_check_detects_renamed_parameters if {
	table := {
		"/a/{x}/b": {},
		"/a/{y}/b": {},
		"/a/{x}/c": {},
		"/a/b/c": {},
	}
	_ambiguous_pairs(table) == {["/a/{x}/b", "/a/{y}/b"]}
}

test_shape_erases_parameter_names if {
	_shape("/api/v1/projects/{project}/builds/{build}") == "/api/v1/projects/{}/builds/{}"
}

# ---------------------------------------------------------------------------- entries

_entry_problems(table) := {sprintf("%s %s: %s", [pattern, method, problem]) |
	some pattern, methods in table
	some method, spec in methods
	some problem in _spec_problems(method, spec)
}

_spec_problems(method, spec) := {problem |
	some check, problem in {
		"method": "method is not an upper-case HTTP method the API uses",
		"access": "access is not read or write",
		"class": "class is not default, log, artifact or trigger",
		"sensitive": "sensitive is not a boolean",
		"keys": "spec has an unknown key",
		"trigger": "the trigger class is only for writes",
		"owner_only": "owner_only routes must be sensitive writes",
		"anonymous": "anonymous routes must be non-sensitive",
		"mcp": "mcp (the body is an MCP message) is only true, on a non-sensitive POST",
		"mcp_endpoint": "mcp_endpoint is only true, and every MCP message route has it",
	}
	not _spec_ok(check, method, spec)
}

_spec_ok("method", method, _) if method in _methods

_spec_ok("access", _, spec) if spec.access in _accesses

_spec_ok("class", _, spec) if spec.class in _classes

_spec_ok("sensitive", _, spec) if is_boolean(spec.sensitive)

_spec_ok("keys", _, spec) if {
	every key, _ in spec {
		key in _spec_keys
	}
}

_spec_ok("trigger", _, spec) if spec.class != "trigger"

_spec_ok("trigger", _, spec) if spec.access == "write"

_spec_ok("owner_only", _, spec) if not spec.owner_only

_spec_ok("owner_only", _, spec) if {
	spec.sensitive == true
	spec.access == "write"
}

_spec_ok("anonymous", _, spec) if not spec.anonymous

_spec_ok("anonymous", _, spec) if spec.sensitive == false

_spec_ok("mcp", _, spec) if not "mcp" in object.keys(spec)

_spec_ok("mcp_endpoint", _, spec) if {
	not "mcp_endpoint" in object.keys(spec)
	not spec.mcp
}

_spec_ok("mcp_endpoint", _, spec) if spec.mcp_endpoint == true

_spec_ok("mcp", method, spec) if {
	spec.mcp == true
	method == "POST"
	spec.sensitive == false
}

test_every_route_entry_is_well_formed if {
	problems := _entry_problems(authz.route_table)
	print("bad route entries:", problems)
	count(problems) == 0
}

# The entry check itself rejects each kind of bad entry.
test_bad_route_entries_are_detected if {
	ok := {"access": "read", "class": "default", "sensitive": false}
	_entry_problems({"/a": {"GET": ok}}) == set()
	_entry_problems({"/a": {
		"get": ok,
		"PUT": object.union(ok, {"access": "admin"}),
		"POST": object.union(ok, {"class": "burst"}),
		"PATCH": object.union(ok, {"sensitive": "yes"}),
		"DELETE": object.union(ok, {"public": true}),
	}}) == {
		"/a get: method is not an upper-case HTTP method the API uses",
		"/a PUT: access is not read or write",
		"/a POST: class is not default, log, artifact or trigger",
		"/a PATCH: sensitive is not a boolean",
		"/a DELETE: spec has an unknown key",
	}
	_entry_problems({"/b": {
		"POST": object.union(ok, {"class": "trigger"}),
		"PUT": object.union(ok, {"access": "write", "owner_only": true}),
		"GET": object.union(ok, {"sensitive": true, "anonymous": true}),
	}}) == {
		"/b POST: the trigger class is only for writes",
		"/b PUT: owner_only routes must be sensitive writes",
		"/b GET: anonymous routes must be non-sensitive",
	}
	_entry_problems({"/c": {
		"GET": object.union(ok, {"mcp": true, "mcp_endpoint": true}),
		"POST": object.union(ok, {"mcp": false}),
		"PUT": object.union(ok, {"mcp": true, "mcp_endpoint": true, "sensitive": true}),
	}}) == {
		"/c GET: mcp (the body is an MCP message) is only true, on a non-sensitive POST",
		"/c POST: mcp (the body is an MCP message) is only true, on a non-sensitive POST",
		"/c PUT: mcp (the body is an MCP message) is only true, on a non-sensitive POST",
	}
	_entry_problems({"/d": {
		"POST": object.union(ok, {"mcp": true}),
		"GET": object.union(ok, {"mcp_endpoint": false}),
		"DELETE": object.union(ok, {"mcp_endpoint": true}),
	}}) == {
		"/d POST: mcp_endpoint is only true, and every MCP message route has it",
		"/d GET: mcp_endpoint is only true, and every MCP message route has it",
	}
}

test_every_pattern_lists_at_least_one_method if {
	empty := {pattern | some pattern, methods in authz.route_table; count(methods) == 0}
	count(empty) == 0
}

_pattern_problems(table) := {sprintf("%s: %s", [pattern, problem]) |
	some pattern, _ in table
	some problem in _shape_problems(pattern)
}

_shape_problems(pattern) := {problem |
	some check, problem in {
		"prefix": "does not start with /api/v1/",
		"segments": "has a segment that is neither a literal nor a {snake_case} parameter",
		"unique": "names a parameter twice",
	}
	not _pattern_ok(check, pattern)
}

_pattern_ok("prefix", pattern) if startswith(pattern, "/api/v1/")

_pattern_ok("segments", pattern) if {
	every segment in array.slice(split(pattern, "/"), 1, 100) {
		regex.match(`^(?:[a-z0-9]+(?:[a-z0-9_-]*[a-z0-9])?|\{[a-z][a-z_]*\})$`, segment)
	}
}

_pattern_ok("unique", pattern) if {
	names := [segment | some segment in split(pattern, "/"); startswith(segment, "{")]
	count(names) == count({name | some name in names})
}

test_every_pattern_is_well_formed if {
	problems := _pattern_problems(authz.route_table)
	print("bad patterns:", problems)
	count(problems) == 0
}

test_bad_patterns_are_detected if {
	_pattern_problems({"/api/v1/a/{b}": {}}) == set()
	_pattern_problems({
		"/api/v2/a": {},
		"/api/v1/a//b": {},
		"/api/v1/A": {},
		"/api/v1/a/{B}": {},
		"/api/v1/a/{b}/{b}": {},
	}) == {
		"/api/v2/a: does not start with /api/v1/",
		"/api/v1/a//b: has a segment that is neither a literal nor a {snake_case} parameter",
		"/api/v1/A: has a segment that is neither a literal nor a {snake_case} parameter",
		"/api/v1/a/{B}: has a segment that is neither a literal nor a {snake_case} parameter",
		"/api/v1/a/{b}/{b}: names a parameter twice",
	}
}

# Routes under a project carry it as {project}, the parameter the subject rules read.
test_project_routes_name_the_project_parameter if {
	unnamed := {pattern |
		some pattern, _ in authz.route_table
		some root in ["/api/v1/projects/", "/api/v1/mcp/projects/"]
		startswith(pattern, root)
		not startswith(pattern, concat("", [root, "{project}"]))
	}
	print("project routes without {project}:", unnamed)
	count(unnamed) == 0
}

# Only the token exchange is open to anonymous callers.
test_only_the_token_exchange_is_anonymous if {
	anonymous := {[pattern, method] |
		some pattern, methods in authz.route_table
		some method, spec in methods
		spec.anonymous == true
	}
	anonymous == {["/api/v1/mcp/tokens/exchange", "POST"]}
}

# Everything under /api/v1/admin is sensitive.
test_admin_routes_are_sensitive if {
	every pattern, methods in authz.route_table {
		_admin_sensitive(pattern, methods)
	}
}

_admin_sensitive(pattern, _) if not startswith(pattern, "/api/v1/admin/")

_admin_sensitive(pattern, methods) if {
	startswith(pattern, "/api/v1/admin/")
	every _, spec in methods {
		spec.sensitive == true
	}
}

# ---------------------------------------------------------------------------- reachability

# A concrete path for a pattern: each parameter replaced by a value of its type that no
# literal uses.
_instantiate(pattern) := concat("/", [_sample(segment) | some segment in split(pattern, "/")])

_sample(segment) := _typed_sample(segment, object.get(authz.param_types, trim(segment, "{}"), "id")) if {
	startswith(segment, "{")
}

_sample(segment) := segment if not startswith(segment, "{")

_typed_sample(segment, "id") := concat("", ["v_", trim(segment, "{}")])

_typed_sample(_, "digits") := "7"

# Every (pattern, method) is what the route entrypoint names for a path built from it, with the
# table's access and class: no pattern is shadowed by another.
test_every_pattern_and_method_is_reachable if {
	unreachable := {[pattern, method, got] |
		some pattern, methods in authz.route_table
		some method, spec in methods
		got := authz.route with input as {"method": method, "path": _instantiate(pattern)}
		got != _expected_route(pattern, spec)
	}
	print("unreachable routes:", unreachable)
	count(unreachable) == 0
}

_expected_route(pattern, spec) := {
	"valid_path": true,
	"pattern": pattern,
	"namespace": authz.namespace(pattern),
	"access": spec.access,
	"rate_limit_class": spec.class,
	"sensitive": spec.sensitive,
	"project_id": _expected_project(pattern),
	"mcp_message": object.get(spec, "mcp", false),
	"mcp_endpoint": object.get(spec, "mcp_endpoint", false),
}

_expected_project(pattern) := "v_project" if contains(pattern, "{project}")

_expected_project(pattern) := null if not contains(pattern, "{project}")

test_instantiate_replaces_each_parameter if {
	_instantiate("/api/v1/projects/{project}/builds/{build}") == "/api/v1/projects/v_project/builds/v_build"
	counter := "/api/v1/projects/{project}/builds/{build}/{restart_counter}"
	_instantiate(counter) == "/api/v1/projects/v_project/builds/v_build/7"
}

# ---------------------------------------------------------------------------- namespace()

test_namespace_of_each_area if {
	every pattern, expected in {
		"/api/v1/mcp/tokens": "mcp_tokens",
		"/api/v1/mcp/tokens/{token}/audit": "mcp_tokens",
		"/api/v1/mcp/projects": "mcp",
		"/api/v1/mcp/projects/{project}/trigger": "mcp",
		"/api/v1/admin/users": "admin",
		"/api/v1/admin/clusters/{cluster}": "admin",
		"/api/v1/projects": "projects",
		"/api/v1/projects/{project}/builds": "projects",
		"/api/v1/user": "user",
	} {
		authz.namespace(pattern) == expected
	}
}

# A tree is a whole segment: a sibling that merely shares a prefix is not inside it.
test_namespace_needs_a_segment_boundary if {
	every pattern, expected in {
		"/api/v1/mcp/tokensx": "mcp",
		"/api/v1/mcpx": "user",
		"/api/v1/administrators": "user",
		"/api/v1/projectsx/{project}": "user",
		"/api/v1/mcp": "mcp",
		"/api/v1/admin": "admin",
	} {
		authz.namespace(pattern) == expected
	}
}

test_every_table_pattern_has_a_typed_namespace if {
	namespaces := {authz.namespace(pattern) | some pattern, _ in authz.route_table}
	namespaces == {"mcp_tokens", "mcp", "admin", "projects", "user"}
}

# ---------------------------------------------------------------------------- specificity()

test_specificity_marks_literals_and_parameters if {
	oracle.specificity("/api/v1/projects/{project}") == "11110"
	oracle.specificity("/api/v1/projects/{project}/builds/{build}/restart") == "11110101"
	oracle.specificity("/api/v1/projects/{project}/builds/{build}/{restart_counter}") == "11110100"
	oracle.specificity("/api/v1/user") == "1111"
}

test_specificity_prefers_the_earliest_literal if {
	oracle.specificity("/a/b/{c}") > oracle.specificity("/a/{b}/c")
	oracle.specificity("/a/{b}/c") > oracle.specificity("/a/{b}/{c}")
}

# ---------------------------------------------------------------------------- matching

_request(method, path) := {"method": method, "path": path}

test_literal_beats_parameter_at_the_same_position if {
	candidates := oracle.candidates("/api/v1/mcp/tokens/temp")
	candidates == {"/api/v1/mcp/tokens/temp", "/api/v1/mcp/tokens/{token}"}
	pattern := authz.matched_pattern with input as _request("POST", "/api/v1/mcp/tokens/temp")
	pattern == "/api/v1/mcp/tokens/temp"
}

# "restart" is no {restart_counter}: the parameter's type keeps the read route from matching.
test_a_segment_matches_only_a_parameter_of_its_type if {
	candidates := oracle.candidates("/api/v1/projects/p1/builds/b1/restart")
	candidates == {"/api/v1/projects/{project}/builds/{build}/restart"}
	every segment in ["restart.json", "restart1", "1x", "0x1", "-1", "1.5", "1234567890"] {
		not authz.matched_pattern with input as _request("GET", concat("/", ["/api/v1/projects/p1/builds/b1", segment]))
	}
}

test_route_params_name_every_parameter if {
	params := authz.route_params with input as _request("GET", "/api/v1/projects/p1/builds/b1/7")
	params == {"project": "p1", "build": "b1", "restart_counter": "7"}
}

test_route_params_keep_the_segment_as_received if {
	params := authz.route_params with input as _request("GET", "/api/v1/projects/My.Project-2/jobs/J_1/console")
	params == {"project": "My.Project-2", "job": "J_1"}
}

# Escapes and sub-delims are no part of any id, so a parameter never holds one.
test_a_parameter_never_holds_an_escape_or_a_sub_delim if {
	every segment in ["a%20b", "j%3A1", "a:b", "a@b", "a!b", "a+b", "a,b", "a=b", "a$b", "a&b", "a'b", "a(b)", "a*b"] {
		authz._path_valid with input as _request("GET", concat("/", ["/api/v1/projects", segment]))
		count(oracle.candidates(concat("/", ["/api/v1/projects", segment]))) == 0
	}
}

test_id_type if {
	every segment in ["a", "A", "7", "p1", "my-project", "a.b", "a_b", "0.9", concat("", ["a", _repeat("b", 127)])] {
		oracle.has_type("id", segment)
	}
	every segment in ["", "-a", ".a", "_a", "~a", "a~b", "a%20b", "a:b", concat("", ["a", _repeat("b", 128)])] {
		not oracle.has_type("id", segment)
	}
}

test_digits_type if {
	every segment in ["0", "7", "123456789", "000000000"] {
		oracle.has_type("digits", segment)
	}
	every segment in ["", "1234567890", "1a", "a1", "-1", "+1", "1.0", " 1", "%31"] {
		not oracle.has_type("digits", segment)
	}
}

_repeat(text, n) := concat("", [text | some _ in numbers.range(1, n)])

# Every typed parameter names one in the table, with a type the matcher knows.
test_param_types_are_known_and_used if {
	used := {trim(segment, "{}") |
		some pattern, _ in authz.route_table
		some segment in split(pattern, "/")
		startswith(segment, "{")
	}
	every name, type in authz.param_types {
		name in used
		type in {"id", "digits"}
	}
}

# An invalid path names no route, even where the tree would match its segments ("TEMP" is an
# id, but it spells the literal "temp" beside {token}).
test_no_route_for_an_invalid_path if {
	not authz.matched_pattern with input as _request("GET", "/api/v1/projects/p1/../p2")
	request := _request("GET", "/api/v1/mcp/tokens/TEMP")
	authz._route_walk(split(request.path, "/"), "GET").pattern == "/api/v1/mcp/tokens/{token}"
	not authz.matched_pattern with input as request
}

test_no_candidates_for_a_path_of_another_length if {
	candidates := oracle.candidates("/api/v1/projects/p1/builds/b1/1/x")
	candidates == set()
	not authz.matched_pattern with input as _request("GET", "/api/v1/projects/p1/builds/b1/1/x")
}

# A literal that leads nowhere gives way to the parameter beside it: "temp" has no "audit"
# below it, {token} has.
test_the_walk_backtracks_from_a_literal_to_the_parameter if {
	request := _request("GET", "/api/v1/mcp/tokens/temp/audit")
	authz.matched_pattern == "/api/v1/mcp/tokens/{token}/audit" with input as request
	authz.route_params == {"token": "temp"} with input as request
	oracle.matched_pattern(request.path) == "/api/v1/mcp/tokens/{token}/audit"
}

test_route_spec_undefined_for_an_unlisted_method if {
	request := _request("POST", "/api/v1/projects/p1/builds")
	not authz.route_spec with input as request
	authz.matched_pattern == "/api/v1/projects/{project}/builds" with input as request
}

# The reference matcher's shadow check finds a sibling that is a pattern itself ("temp") and one
# that only starts patterns ("cache" of ".../cache/clear").
test_the_reference_finds_shadowed_literals if {
	oracle.shadows_a_literal("/api/v1/mcp/tokens/TEMP")
	oracle.shadows_a_literal("/api/v1/projects/p1/builds/b1/CACHE")
	not oracle.shadows_a_literal("/api/v1/mcp/tokens/Other")
}
