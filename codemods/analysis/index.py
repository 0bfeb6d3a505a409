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
import weakref
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
    """The top-level declarations of every file of the package, merged.

    Built lazily: a question about a name reads the parts of the files whose bytes
    can declare it (``Package.files_declaring``/``files_mentioning``), so asking
    about one function parses a few files, not the package. Where two files
    declare one name (one variant per build target), the first in path order is
    the entry, as if every part had been merged in path order; only the whole
    listings (``all_functions``, ``types.items()``, ``variables.items()``) read every file.
    """

    requires = (Declarations,)

    def __init__(self, package) -> None:
        super().__init__(package)
        self._parts: dict[str, _Part] = {}  # path -> part, for the files read so far
        self._order: list[_Part] | None = None
        self._functions_asked: set[bytes] = set()
        self._methods_asked: set[tuple[bytes, bytes]] = set()
        self._receivers_asked: set[bytes] = set()  # types whose methods were read (methods_of)
        self._words_asked: set[bytes] = set()
        self._declarations_asked: set[bytes] = set()
        self._complete = False
        self._merged: _Part | None = None
        self._constructors: dict[bytes, list[FunctionInfo]] = {}
        self._entries: dict[tuple[str, int, int], FunctionInfo | None] = {}
        self.types = _Lookup(self, "types")
        self.variables = _Lookup(self, "variables")

    # -- reading parts --------------------------------------------------------
    def _read(self, sources) -> None:
        for source in sources:
            if source.path not in self._parts:
                self._parts[source.path] = source.facts(Declarations).part
                self._order = None

    def _ordered(self) -> list[_Part]:
        """The parts read so far, in path order."""
        if self._order is None:
            self._order = [self._parts[path] for path in self.package.paths if path in self._parts]
        return self._order

    def _functions_named(self, name: bytes) -> None:
        """Read every file that may declare a function or method ``name``."""
        if not self._complete and name not in self._functions_asked:
            self._functions_asked.add(name)
            self._read(self.package.files_declaring(name))

    def _mentioning(self, word: bytes) -> None:
        """Read every file whose bytes hold ``word`` (a type or variable name)."""
        if not self._complete and word not in self._words_asked:
            self._words_asked.add(word)
            self._read(self.package.files_mentioning(word))

    def _may_declare(self, name: bytes) -> None:
        """Read every file that may declare a type or package variable ``name``."""
        if not self._complete and name not in self._declarations_asked and name not in self._words_asked:
            self._declarations_asked.add(name)
            self._read(self.package.files_that_may_declare(name))

    def _all(self) -> _Part:
        if self._merged is None:
            self._read(self.package.files())
            self._complete = True
            merged = _Part()
            for part in self._ordered():
                for name, declared in part.types.items():
                    merged.types.setdefault(name, declared)
                for name, infos in part.functions.items():
                    merged.functions.setdefault(name, []).extend(infos)
                for type_name, methods in part.methods.items():
                    for name, method in methods.items():
                        merged.methods.setdefault(type_name, {}).setdefault(name, method)
                for name, variable in part.variables.items():
                    merged.variables.setdefault(name, variable)
            self._merged = merged
        return self._merged

    # -- questions by name ----------------------------------------------------
    def functions_named(self, name: bytes) -> list[FunctionInfo]:
        """Every plain function called ``name`` (several `init`s, one per build variant)."""
        self._functions_named(name)
        return [info for part in self._ordered() for info in part.functions.get(name, ())]

    def function(self, name: bytes) -> FunctionInfo | None:
        found = self.functions_named(name)
        return found[0] if len(found) == 1 else None

    def methods_named(self, name: bytes) -> list[FunctionInfo]:
        """The method ``name`` of every type of the package that has one (the first
        declaration of each, in path order)."""
        self._functions_named(name)
        found: dict[bytes, FunctionInfo] = {}
        for part in self._ordered():
            for type_name, methods in part.methods.items():
                if name in methods:
                    found.setdefault(type_name, methods[name])
        return list(found.values())

    def callables_named(self, name: bytes) -> list[FunctionInfo]:
        """The functions and methods called ``name``."""
        return [*self.functions_named(name), *self.methods_named(name)]

    def methods_of(self, type_name: bytes) -> dict[bytes, FunctionInfo]:
        # A file declaring a method of the type names the type in the receiver.
        if not self._complete and type_name not in self._receivers_asked:
            self._receivers_asked.add(type_name)
            self._read(self.package.files_declaring_methods_of(type_name))
        found: dict[bytes, FunctionInfo] = {}
        for part in self._ordered():
            for name, info in part.methods.get(type_name, {}).items():
                found.setdefault(name, info)
        return found

    def method(self, type_name: bytes, name: bytes) -> FunctionInfo | None:
        if not self._complete and name not in self._functions_asked and (type_name, name) not in self._methods_asked:
            self._methods_asked.add((type_name, name))
            self._read(self.package.files_declaring(name, mentioning=type_name))
        for part in self._ordered():
            found = part.methods.get(type_name, {}).get(name)
            if found is not None:
                return found
        return None

    def _entries_named_by(self, source, function: Node) -> list[FunctionInfo]:
        """The entries under the name the declaration ``function`` declares: for a method,
        its receiver type's method of that name; for a function, every function of that
        name (one per build variant). Nothing for a func literal."""
        if not syntax.is_declared_function(function):
            return []
        name = syntax.function_name(function)
        if name is None:
            return []
        if not syntax.is_method(function):
            return self.functions_named(source.text(name))
        receiver = syntax.parameters_of(syntax.receiver(function))
        base = syntax.base_type_name(receiver[0].type) if receiver else None
        method = self.method(source.text(base), source.text(name)) if base is not None else None
        return [method] if method is not None else []

    def named_entry(self, source, function: Node) -> FunctionInfo | None:
        """The entry ``function``/``method`` answer with for the name the declaration
        ``function`` declares (None when a function name has several variants); it may
        be another declaration of that name, another file's."""
        found = self._entries_named_by(source, function)
        return found[0] if len(found) == 1 else None

    def entry(self, source, function: Node) -> FunctionInfo | None:
        """The index's entry for the declaration ``function`` of ``source``, whichever
        variant it is of several functions of one name (for a method, only the entry
        ``method`` answers with)."""
        key = (source.path, function.start_byte, function.end_byte)
        if key not in self._entries:
            candidates = self._entries_named_by(source, function)
            self._entries[key] = next((info for info in candidates if (info.source.path, info.node.start_byte, info.node.end_byte) == key), None)
        return self._entries[key]

    def declaration(self, source, function: Node) -> FunctionInfo | None:
        """The entry for the function or method that ``function`` (a node of ``source``)
        declares: None for a func literal, or when the entry of that name is another
        declaration (another file's, as with one variant per build target)."""
        info = self.named_entry(source, function)
        if info is None or info.source is not source or not syntax.same_node(info.node, function):
            return None
        return info

    def reachable_from_outside(self, name: bytes) -> bool:
        """Can other packages name ``name`` (a field, method or function): it is exported,
        and the package is not `main`?"""
        return name[:1].isupper() and self.package.name not in (None, b"main")

    def mentions(self, name: bytes) -> int:
        """How many times the package's files name ``name`` as an identifier, declarations
        included (only the files that say the word are parsed)."""
        return sum(
            1 for source in self.package.files_saying(name) for node in nodes_of_types(source, syntax.NAME_KINDS) if source.text(node) == name
        )

    def declared_once(self, info: FunctionInfo) -> bool:
        """The package declares ``info``'s function or method in one file only: not once
        per build target (`f` in `f_unix.go` and `f_windows.go`), where the variant that
        ``function``/``method`` answers may not be the one that is built."""
        if info.receiver_type is None:
            return len(self.functions_named(info.name)) == 1
        self.method(info.receiver_type, info.name)  # reads every file that can declare it
        return sum(1 for part in self._ordered() if info.name in part.methods.get(info.receiver_type, {})) == 1

    def constructors(self, type_name: bytes) -> list[FunctionInfo]:
        """Functions of the package that return `T{…}` or `&T{…}` for this type."""
        if type_name not in self._constructors:
            found: list[FunctionInfo] = []
            if self.types.get(type_name) is not None:
                self._mentioning(type_name)  # a constructor names the type it builds
                names = {name for part in self._ordered() for name in part.functions}
                for name in sorted(names):
                    self._functions_named(name)  # every variant, for the merged order
                order: dict[bytes, None] = {}
                for part in self._ordered():
                    for name in part.functions:
                        if name in names:
                            order.setdefault(name, None)
                for name in order:
                    for info in self.functions_named(name):
                        if type_name in _constructed_types(info):
                            found.append(info)
            self._constructors[type_name] = found
        return self._constructors[type_name]

    # -- whole listings (every file is read) ------------------------------------
    def all_functions(self) -> list[FunctionInfo]:
        """Every function and method of the package (the plain functions first, by name
        in first-declaration order, then the methods by receiver type)."""
        merged = self._all()
        found = [info for infos in merged.functions.values() for info in infos]
        for methods in merged.methods.values():
            found.extend(methods.values())
        return found


class _Lookup:
    """``index.types`` / ``index.variables``: looked up by name, the files that may
    declare the name are read; listed whole, every file is."""

    def __init__(self, index: PackageIndex, kind: str) -> None:
        # A weak reference: the index owns its lookups, and a cycle between them would
        # keep the package's trees alive until the collector's next full pass.
        self._index = weakref.proxy(index)
        self._kind = kind

    def get(self, name: bytes, default=None):
        self._index._may_declare(name)
        for part in self._index._ordered():
            found = getattr(part, self._kind).get(name)
            if found is not None:
                return found
        return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, bytes) and self.get(name) is not None

    def __getitem__(self, name: bytes):
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def items(self):
        return getattr(self._index._all(), self._kind).items()


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
