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
            left = self._expression_type(expr.child_by_field_name("left"), depth + 1)
            right = self._expression_type(expr.child_by_field_name("right"), depth + 1)
            operator = self.source.text(expr.child_by_field_name("operator"))
            if operator in (b"==", b"!=", b"<", b"<=", b">", b">=", b"&&", b"||"):
                return b"bool"
            if isinstance(left, bytes) and left == right and operator not in (b"<<", b">>"):
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
