"""The package index: what a Go package declares at its top level.

``Declarations`` is one file's part (cheap: no other file is parsed);
``PackageIndex`` merges the parts of every file of the package:

- types, with their struct fields (name, type, embedded) and what kind of
  value a field holds when the source says so: a channel, a `sync.Mutex`,
  `sync.RWMutex`, `sync.WaitGroup`, `sync.Cond`, `sync.Once`, or a
  `context.Context`;
- functions by name, methods by receiver type name;
- package-level variables;
- constructors: functions returning `T{…}` or `&T{…}` of a type of the
  package.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import Fact, PackageFact
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.syntax import unparen, walk_no_funcs

if TYPE_CHECKING:  # pragma: no cover
    from gofix_defer.codemods.analysis.source import SourceFile


class ValueKind(str, enum.Enum):
    CHANNEL = "channel"
    MUTEX = "mutex"
    RWMUTEX = "rwmutex"
    WAITGROUP = "waitgroup"
    COND = "cond"
    ONCE = "once"
    CONTEXT = "context"
    OTHER = "other"


_SYNC_KINDS = {b"Mutex": ValueKind.MUTEX, b"RWMutex": ValueKind.RWMUTEX, b"WaitGroup": ValueKind.WAITGROUP, b"Cond": ValueKind.COND, b"Once": ValueKind.ONCE}


def value_kind(source, type_node: Node | None, pointers: bool = True) -> ValueKind:
    """What a stated type holds, as far as the leak rules care (pointers looked through,
    unless ``pointers`` is False: then `*context.Context` is OTHER)."""
    if type_node is None:
        return ValueKind.OTHER
    node = syntax.unparen_type(type_node)
    if syntax.is_pointer_type(node) and not pointers:
        return ValueKind.OTHER
    if syntax.is_pointer_type(node):
        inner = syntax.pointee(node)
        if inner is None:
            return ValueKind.OTHER
        node = syntax.unparen_type(inner)
    if syntax.is_channel_type(node):
        return ValueKind.CHANNEL
    parts = syntax.qualified_parts(node)
    if parts is None:
        return ValueKind.OTHER
    package, name = source.text(parts[0]), source.text(parts[1])
    if package == imported_name(source, b"sync") and name in _SYNC_KINDS:
        return _SYNC_KINDS[name]
    if package == imported_name(source, b"context") and name == b"Context":
        return ValueKind.CONTEXT
    return ValueKind.OTHER


@dataclass(frozen=True)
class FieldInfo:
    name: bytes  # for an embedded field, its type's name (`Mutex` for `sync.Mutex`)
    type: Node | None
    kind: ValueKind
    embedded: bool


@dataclass
class TypeInfo:
    name: bytes
    spec: Node  # the type definition
    source: "SourceFile"  # the file declaring it
    fields: list[FieldInfo] | None = None  # None when not a struct

    def field(self, name: bytes) -> FieldInfo | None:
        return next((f for f in self.fields or () if f.name == name), None)


@dataclass(frozen=True)
class FunctionInfo:
    name: bytes
    node: Node  # the function or method declaration
    source: "SourceFile"  # the file declaring it
    receiver_type: bytes | None = None  # methods: the receiver's type name
    receiver_name: bytes | None = None  # methods: the receiver variable, if named
    pointer_receiver: bool = False


@dataclass(frozen=True)
class VariableInfo:
    name: bytes
    spec: Node
    source: "SourceFile"
    type: Node | None
    value: Node | None


@dataclass
class _Part:
    types: dict[bytes, TypeInfo] = field(default_factory=dict)
    functions: dict[bytes, list[FunctionInfo]] = field(default_factory=dict)  # several `init`s
    methods: dict[bytes, dict[bytes, FunctionInfo]] = field(default_factory=dict)
    variables: dict[bytes, VariableInfo] = field(default_factory=dict)


class Declarations(Fact):
    """The top-level declarations of one file."""

    def __init__(self, source) -> None:
        super().__init__(source)
        self.part = _index_file(source)
        self._fields_by_name: dict[bytes, list[FieldInfo]] | None = None

    @property
    def types(self) -> dict[bytes, TypeInfo]:
        return self.part.types

    def function(self, name: bytes) -> FunctionInfo | None:
        """The plain (non-method) function ``name`` declared in this file."""
        found = self.part.functions.get(name)
        return found[0] if found else None

    def methods_of(self, type_name: bytes) -> dict[bytes, FunctionInfo]:
        return self.part.methods.get(type_name, {})

    @property
    def variables(self) -> dict[bytes, VariableInfo]:
        """The package-level variables declared in this file."""
        return self.part.variables

    def fields_named(self, name: bytes) -> list[FieldInfo]:
        """Every struct field called ``name`` declared in this file, in any struct type:
        named types, nested and anonymous struct types, and types local to functions (an
        embedded field is called by its type's name, and has ``embedded`` set)."""
        if self._fields_by_name is None:
            found: dict[bytes, list[FieldInfo]] = {}
            for struct in nodes_of_types(self.source, syntax.STRUCT_TYPE_KINDS):
                for info in _struct_fields(self.source, struct):
                    found.setdefault(info.name, []).append(info)
            self._fields_by_name = found
        return self._fields_by_name.get(name, [])


class PackageIndex(PackageFact):
    """The top-level declarations of every file of the package, merged."""

    requires = (Declarations,)

    def __init__(self, package) -> None:
        super().__init__(package)
        merged = _Part()
        # (receiver type, method) -> how many files declare it (build-tagged variants).
        self._method_counts: dict[tuple[bytes, bytes], int] = {}
        for source in package.files():
            part = source.facts(Declarations).part
            for name, info in part.types.items():
                merged.types.setdefault(name, info)
            for name, infos in part.functions.items():
                merged.functions.setdefault(name, []).extend(infos)
            for type_name, methods in part.methods.items():
                for name, info in methods.items():
                    merged.methods.setdefault(type_name, {}).setdefault(name, info)
                    self._method_counts[(type_name, name)] = self._method_counts.get((type_name, name), 0) + 1
            for name, info in part.variables.items():
                merged.variables.setdefault(name, info)
        self.part = merged
        self._constructors: dict[bytes, list[FunctionInfo]] | None = None

    @property
    def types(self) -> dict[bytes, TypeInfo]:
        return self.part.types

    @property
    def variables(self) -> dict[bytes, VariableInfo]:
        return self.part.variables

    def function(self, name: bytes) -> FunctionInfo | None:
        found = self.part.functions.get(name)
        return found[0] if found and len(found) == 1 else None

    def methods_of(self, type_name: bytes) -> dict[bytes, FunctionInfo]:
        return self.part.methods.get(type_name, {})

    def method(self, type_name: bytes, name: bytes) -> FunctionInfo | None:
        return self.methods_of(type_name).get(name)

    def declaration(self, source, function: Node) -> FunctionInfo | None:
        """The entry for the function or method that ``function`` (a node of ``source``)
        declares: None for a func literal, or when the entry of that name is another
        declaration (another file's, as with one variant per build target)."""
        if not syntax.is_declared_function(function):
            return None
        name = syntax.function_name(function)
        if name is None:
            return None
        if syntax.is_method(function):
            receiver = syntax.parameters_of(syntax.receiver(function))
            base = syntax.base_type_name(receiver[0].type) if receiver else None
            info = self.method(source.text(base), source.text(name)) if base is not None else None
        else:
            info = self.function(source.text(name))
        if info is None or info.source is not source or not syntax.same_node(info.node, function):
            return None
        return info

    def declared_once(self, info: FunctionInfo) -> bool:
        """The package declares ``info``'s function or method in one file only: not once
        per build target (`f` in `f_unix.go` and `f_windows.go`), where the variant that
        ``function``/``method`` answers may not be the one that is built."""
        if info.receiver_type is None:
            return len(self.part.functions.get(info.name, ())) == 1
        return self._method_counts.get((info.receiver_type, info.name), 0) == 1

    def constructors(self, type_name: bytes) -> list[FunctionInfo]:
        """Functions of the package that return `T{…}` or `&T{…}` for this type."""
        if self._constructors is None:
            found: dict[bytes, list[FunctionInfo]] = {}
            for infos in self.part.functions.values():
                for info in infos:
                    for built in _constructed_types(info):
                        if built in self.part.types:
                            found.setdefault(built, []).append(info)
            self._constructors = found
        return self._constructors.get(type_name, [])


def _index_file(source) -> _Part:
    part = _Part()
    root = source.root
    for declaration in syntax.top_level_declarations(root):
        if syntax.is_type_declaration(declaration):
            for spec in syntax.type_specs(declaration):
                name = syntax.type_spec_name(spec)
                if name is None:
                    continue
                declared = syntax.type_spec_type(spec)
                info = TypeInfo(source.text(name), spec, source)
                if declared is not None and syntax.is_struct_type(syntax.unparen_type(declared)):
                    info.fields = _struct_fields(source, syntax.unparen_type(declared))
                part.types.setdefault(info.name, info)
        elif syntax.is_declared_function(declaration):
            name = syntax.function_name(declaration)
            if name is None:
                continue
            if syntax.is_method(declaration):
                receiver = syntax.parameters_of(syntax.receiver(declaration))
                type_node = receiver[0].type if receiver else None
                base = syntax.base_type_name(type_node)
                if base is None:
                    continue
                pointer = type_node is not None and syntax.is_pointer_type(syntax.unparen_type(type_node))
                receiver_name = receiver[0].names[0].text if receiver and receiver[0].names else None
                method = FunctionInfo(source.text(name), declaration, source, source.text(base), receiver_name, pointer)
                part.methods.setdefault(method.receiver_type or b"", {}).setdefault(method.name, method)
            else:
                function = FunctionInfo(source.text(name), declaration, source)
                part.functions.setdefault(function.name, []).append(function)
        elif syntax.is_var_declaration(declaration):
            for spec in syntax.var_specs(declaration):
                names, values = syntax.var_spec_names(spec), syntax.var_spec_values(spec)
                for index, ident in enumerate(names):
                    value = values[index] if len(values) == len(names) else None
                    part.variables.setdefault(source.text(ident), VariableInfo(source.text(ident), spec, source, syntax.var_spec_type(spec), value))
    return part


def _struct_fields(source, struct: Node) -> list[FieldInfo]:
    fields = []
    for names, type_node, embedded in syntax.struct_fields(struct):
        kind = value_kind(source, type_node)
        if embedded:
            base = syntax.base_type_name(type_node)
            if base is not None:
                fields.append(FieldInfo(source.text(base), type_node, kind, True))
            continue
        for name in names:
            fields.append(FieldInfo(source.text(name), type_node, kind, False))
    return fields


def _constructed_types(info: FunctionInfo) -> set[bytes]:
    """Type names of the `T{…}` / `&T{…}` values the function returns."""
    body = syntax.function_body(info.node)
    found: set[bytes] = set()
    for node in walk_no_funcs(body) if body is not None else ():
        if not syntax.is_return(node):
            continue
        for value in syntax.return_values(node):
            value = unparen(value)
            if syntax.is_address_of(value):
                operand = syntax.unary_operand(value)
                value = unparen(operand) if operand is not None else value
            if syntax.is_composite_literal(value):
                base = syntax.base_type_name(syntax.composite_type(value))
                if base is not None:
                    found.add(base.text or b"")
    return found
