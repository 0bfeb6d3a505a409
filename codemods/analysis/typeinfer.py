"""Small, source-only type inference for variables (no type checker).

Answers "what type would I write for this variable?" only when the source
states it: literals, conversions to predeclared types, `len`/`cap`, declared
types of variables and parameters, composite literals, `make(...)`, and the
element types of ranges over those. Named types are followed through type
declarations in the same file. Anything else is None: the caller must then
use a form that needs no type (a `v := v` copy).
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import unparen

PREDECLARED_TYPES = frozenset(
    b"bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64 "
    b"rune string uint uint8 uint16 uint32 uint64 uintptr any".split()
)
_LITERAL_TYPES = {
    "int_literal": b"int",
    "float_literal": b"float64",
    "imaginary_literal": b"complex128",
    "rune_literal": b"rune",
    "interpreted_string_literal": b"string",
    "raw_string_literal": b"string",
}
_MAX_DEPTH = 6


class TypeInference:
    def __init__(self, source: SourceFile, scopes: FunctionScopes):
        self.source = source
        self.scopes = scopes
        self._package_types: dict[bytes, Node] | None = None
        self._package_vars: dict[bytes, tuple[Node | None, Node | None]] | None = None

    # -- public -----------------------------------------------------------
    def variable_type(self, decl: Declaration) -> bytes | None:
        """The spelled type of a declared variable, or None when the source does not say."""
        node = self._decl_type_node(decl, 0)
        if node is None:
            return None
        if isinstance(node, bytes):
            return node
        return self._spell(node)

    # -- internals --------------------------------------------------------
    def _spell(self, node: Node) -> bytes | None:
        text = self.source.text(node)
        if b"\n" in text or b"/*" in text or b"//" in text:
            return None
        return text

    def _decl_type_node(self, decl: Declaration, depth: int) -> Node | bytes | None:
        if depth > _MAX_DEPTH:
            return None
        if decl.type_node is not None and decl.kind in ("param", "result", "receiver", "var", "const"):
            if decl.kind == "param" and decl.variadic:
                return b"[]" + self.source.text(decl.type_node)
            return decl.type_node
        if decl.kind == "range":
            return self._range_element(decl, depth)
        if decl.kind in ("short", "var") and decl.value is not None:
            return self._expression_type(decl.value, depth + 1)
        return None

    def _range_element(self, decl: Declaration, depth: int) -> Node | bytes | None:
        container = self._expression_type(decl.value, depth + 1) if decl.value is not None else None
        if container is None:
            return None
        if isinstance(container, bytes):
            if container == b"string":
                return b"int" if decl.index == 0 else b"rune"
            if container.startswith(b"[]"):  # a variadic parameter's slice type
                return b"int" if decl.index == 0 else container[2:]
            return None
        underlying = self._underlying(container, depth)
        if underlying is None:
            return None
        if isinstance(underlying, bytes):
            if underlying == b"string":
                return b"int" if decl.index == 0 else b"rune"
            return None
        kind = underlying.type
        if kind == "pointer_type":
            pointee = self._underlying(underlying.named_children[0], depth) if underlying.named_children else None
            if isinstance(pointee, Node) and pointee.type == "array_type":
                underlying, kind = pointee, "array_type"
            else:
                return None
        if kind in ("slice_type", "array_type"):
            return b"int" if decl.index == 0 else underlying.child_by_field_name("element")
        if kind == "map_type":
            return underlying.child_by_field_name("key" if decl.index == 0 else "element")
        if kind == "channel_type":
            if decl.index != 0 or syntax.channel_direction(underlying) == "send":
                return None
            return underlying.child_by_field_name("element")
        return None

    def _underlying(self, type_node: Node | bytes, depth: int) -> Node | bytes | None:
        """Follow named types declared in this file to their definition."""
        for _ in range(_MAX_DEPTH):
            if isinstance(type_node, bytes):
                return type_node
            if type_node.type == "parenthesized_type" and type_node.named_children:
                type_node = type_node.named_children[0]
                continue
            if type_node.type != "type_identifier":
                return type_node
            name = self.source.text(type_node)
            if name == b"string":
                return b"string"
            definition = self._package_type_definitions().get(name)
            if definition is None:
                return None
            type_node = definition
        return None

    def _package_type_definitions(self) -> dict[bytes, Node]:
        if self._package_types is None:
            found: dict[bytes, Node] = {}
            for declaration in self.source.root.named_children:
                if declaration.type != "type_declaration":
                    continue
                for spec in declaration.named_children:
                    if spec.type == "type_definition" and spec.child_by_field_name("type_parameters") is None:
                        name, value = spec.child_by_field_name("name"), spec.child_by_field_name("type")
                        if name is not None and value is not None:
                            found[self.source.text(name)] = value
            self._package_types = found
        return self._package_types

    def _package_variable(self, name: bytes) -> tuple[Node | None, Node | None] | None:
        if self._package_vars is None:
            found: dict[bytes, tuple[Node | None, Node | None]] = {}
            for declaration in self.source.root.named_children:
                if declaration.type != "var_declaration":
                    continue
                for spec in syntax.var_specs(declaration):
                    names = spec.children_by_field_name("name")
                    value = spec.child_by_field_name("value")
                    values = [c for c in value.named_children] if value is not None else []
                    for index, ident in enumerate(names):
                        item = values[index] if len(values) == len(names) else None
                        found[self.source.text(ident)] = (spec.child_by_field_name("type"), item)
            self._package_vars = found
        return self._package_vars.get(name)

    def _expression_type(self, expr: Node, depth: int) -> Node | bytes | None:
        if depth > _MAX_DEPTH:
            return None
        expr = unparen(expr)
        kind = expr.type
        if kind in _LITERAL_TYPES:
            return _LITERAL_TYPES[kind]
        if kind == "identifier" and expr.text in (b"true", b"false"):
            return b"bool"
        if kind == "composite_literal":
            return expr.child_by_field_name("type")
        if kind == "unary_expression":
            operator = expr.child_by_field_name("operator")
            operand = expr.child_by_field_name("operand")
            if operator is not None and operand is not None and self.source.text(operator) in (b"-", b"+", b"^"):
                inner = self._expression_type(operand, depth + 1)
                return inner if isinstance(inner, bytes) else None
            return None
        if kind == "binary_expression":
            parts = syntax.binary_parts(expr)
            if parts is None:
                return None
            left = self._expression_type(parts[0], depth + 1)
            right = self._expression_type(parts[2], depth + 1)
            spelled_operator = parts[1]
            if spelled_operator in (b"==", b"!=", b"<", b"<=", b">", b">=", b"&&", b"||"):
                return b"bool"
            if isinstance(left, bytes) and left == right and spelled_operator not in (b"<<", b">>"):
                return left
            return None
        if kind == "identifier":
            decl = self.scopes.resolve(expr)
            if decl is not None:
                return self._decl_type_node(decl, depth + 1)
            package_var = self._package_variable(self.source.text(expr))
            if package_var is not None:
                type_node, value = package_var
                if type_node is not None:
                    return type_node
                if value is not None:
                    return self._expression_type(value, depth + 1)
            return None
        if kind == "call_expression":
            return self._call_type(expr, depth)
        return None

    def _call_type(self, call: Node, depth: int) -> Node | bytes | None:
        function = call.child_by_field_name("function")
        arguments = call.child_by_field_name("arguments")
        if function is None or arguments is None:
            return None
        function = unparen(function)
        args = [c for c in arguments.named_children if c.type != "comment"]
        if function.type == "identifier" and self.scopes.resolve(function) is None:
            name = self.source.text(function)
            if name in (b"len", b"cap", b"copy"):
                return b"int"
            if name == b"make" and args:
                return args[0]
            if name in PREDECLARED_TYPES and len(args) == 1:
                return name
            return None
        if function.type in ("slice_type", "array_type", "map_type", "channel_type", "parenthesized_type"):
            return function
        return None


class Types(Fact):
    """Source-stated types of the variables of each function, one inference per function."""

    requires = (Scopes,)

    def __init__(self, source) -> None:
        super().__init__(source)
        self._by_function: dict[tuple[int, int], TypeInference] = {}

    def of(self, function: Node) -> TypeInference:
        key = (function.start_byte, function.end_byte)
        found = self._by_function.get(key)
        if found is None:
            found = self._by_function[key] = TypeInference(self.source, self.source.scopes(function))
        return found


def made_type_name(source: SourceFile, decl: Declaration) -> bytes | None:
    """The plain type name T (no package, pointer or type arguments) a variable is made as:
    `var x T`, `x := T{…}`, `x := &T{…}`, `var x = T{…}`, `x := new(T)`. None otherwise."""
    if decl.kind == "var" and decl.type_node is not None and decl.value is None:
        return source.text(decl.type_node) if decl.type_node.type == "type_identifier" else None
    value = decl.value
    if value is None or decl.kind not in ("short", "var"):
        return None
    value = unparen(value)
    if syntax.is_address_of(value):
        operand = syntax.unary_operand(value)
        if operand is None:
            return None
        value = unparen(operand)
    if syntax.is_composite_literal(value):
        type_node = syntax.composite_type(value)
        return source.text(type_node) if syntax.is_type_identifier(type_node) else None
    if syntax.is_call(value) and syntax.call_name(value, source.data) == b"new":
        arguments = syntax.call_arguments_node(value)
        named = arguments.named_children if arguments is not None else []
        if len(named) == 1 and syntax.is_type_identifier(named[0]):
            return source.text(named[0])
    return None


# -- loops whose syntax exists only since Go 1.22 ----------------------------------
INTEGER_TYPES = frozenset(b"int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr byte rune".split())
# Standard-library functions (by import path) that return an iterator function (Go 1.23).
_ITERATOR_FUNCTIONS: dict[bytes, frozenset[bytes]] = {
    b"maps": frozenset({b"All", b"Keys", b"Values"}),
    b"slices": frozenset({b"All", b"Values", b"Backward", b"Chunk"}),
    b"strings": frozenset({b"Lines", b"SplitSeq", b"SplitAfterSeq", b"FieldsSeq", b"FieldsFuncSeq"}),
    b"bytes": frozenset({b"Lines", b"SplitSeq", b"SplitAfterSeq", b"FieldsSeq", b"FieldsFuncSeq"}),
}


def ranges_over_integer_or_function(inference: TypeInference, loop: Node) -> bool:
    """Does ``loop`` range over an integer (`for i := range 10`, Go 1.22) or a function
    (`for x := range seq`, Go 1.23), as far as the source states it?

    Such a loop cannot be compiled by a Go release before 1.22, so its variables are
    per iteration whatever the go.mod line says. Recognised: integer literals,
    constants, `len`/`cap`, variables and expressions of a stated integer type (named
    types declared in the file followed to their definition); function literals,
    variables of a stated function or `iter.Seq`/`iter.Seq2` type, calls of functions
    of the file whose result is one, and the iterator functions of the standard
    library's maps, slices, strings and bytes packages. Anything else: False."""
    operand = syntax.range_operand(loop)
    if operand is None:
        return False
    return _is_integer_or_function(inference, unparen(operand), 0)


def _is_integer_or_function(inference: TypeInference, expr: Node, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    source = inference.source
    if expr.type in ("function_literal", "int_literal", "rune_literal"):
        return True
    if expr.type == "identifier":
        decl = inference.scopes.resolve(expr)
        if decl is not None and decl.kind == "const":
            if decl.type_node is not None:
                return _is_integer_or_function_type(inference, decl.type_node, depth + 1)
            return decl.value is not None and _is_integer_or_function(inference, unparen(decl.value), depth + 1)
        if decl is None:
            constant = _package_constant(source, source.text(expr))
            if constant is not None:
                type_node, value = constant
                if type_node is not None:
                    return _is_integer_or_function_type(inference, type_node, depth + 1)
                return value is not None and _is_integer_or_function(inference, unparen(value), depth + 1)
    if expr.type == "call_expression":
        function = expr.child_by_field_name("function")
        function = unparen(function) if function is not None else None
        if function is not None and function.type == "selector_expression":
            operand, field = function.child_by_field_name("operand"), function.child_by_field_name("field")
            if operand is not None and field is not None and operand.type == "identifier" and inference.scopes.resolve(operand) is None:
                for path, names in _ITERATOR_FUNCTIONS.items():
                    if source.text(field) in names and imported_name(source, path) == source.text(operand):
                        return True
        if function is not None and function.type == "identifier" and inference.scopes.resolve(function) is None:
            result = _top_level_function_result(source, source.text(function))
            if result is not None and _is_integer_or_function_type(inference, result, depth + 1):
                return True
    found = inference._expression_type(expr, depth + 1)
    if found is None:
        return False
    if isinstance(found, bytes):
        return found in INTEGER_TYPES
    return _is_integer_or_function_type(inference, found, depth + 1)


def _is_integer_or_function_type(inference: TypeInference, type_node: Node, depth: int) -> bool:
    for _ in range(_MAX_DEPTH):
        if type_node.type == "parenthesized_type" and type_node.named_children:
            type_node = type_node.named_children[0]
            continue
        if type_node.type == "function_type":
            return True
        text = b"".join(inference.source.text(type_node).split())
        if text.startswith((b"iter.Seq[", b"iter.Seq2[")):
            return True
        name = type_node
        if type_node.type == "generic_type":
            name = type_node.child_by_field_name("type") or type_node
        if name.type != "type_identifier":
            return False
        spelled = inference.source.text(name)
        if spelled in INTEGER_TYPES:
            return True
        definition = _type_definition(inference.source, spelled)
        if definition is None:
            return False
        type_node = definition
    return False


def _type_definition(source: SourceFile, name: bytes) -> Node | None:
    """The type a top-level `type name …` of the file defines (generic ones included)."""
    for declaration in source.root.named_children:
        if declaration.type != "type_declaration":
            continue
        for spec in declaration.named_children:
            if spec.type == "type_definition":
                spec_name, value = spec.child_by_field_name("name"), spec.child_by_field_name("type")
                if spec_name is not None and value is not None and source.text(spec_name) == name:
                    return value
    return None


def _package_constant(source: SourceFile, name: bytes) -> tuple[Node | None, Node | None] | None:
    """(stated type, value) of a top-level constant of the file named ``name``."""
    for declaration in source.root.named_children:
        if declaration.type != "const_declaration":
            continue
        for spec in declaration.named_children:
            if spec.type != "const_spec":
                continue
            names = spec.children_by_field_name("name")
            value = spec.child_by_field_name("value")
            values = [c for c in value.named_children] if value is not None else []
            for index, ident in enumerate(names):
                if source.text(ident) == name:
                    return spec.child_by_field_name("type"), (values[index] if len(values) == len(names) else None)
    return None


def _top_level_function_result(source: SourceFile, name: bytes) -> Node | None:
    """The single, unnamed result type of the top-level function ``name`` of the file."""
    for declaration in source.root.named_children:
        if declaration.type != "function_declaration":
            continue
        spelled = declaration.child_by_field_name("name")
        if spelled is None or source.text(spelled) != name:
            continue
        result = declaration.child_by_field_name("result")
        if result is None or result.type == "parameter_list":
            return None
        return result
    return None
