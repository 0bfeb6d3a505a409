"""request-escape: a goroutine started in an HTTP handler keeps using the request or writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, fresh_name
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, called_function_literal, identifiers, is_inside, walk, walk_no_funcs
from gofix_defer.codemods.edits.parameters import add_parameters
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule

# Fields of *http.Request (and of its *url.URL) that hold plain values: read
# before the goroutine starts, they can be passed as arguments of these
# types, named after the field. Reference and pointer fields (Header, Body,
# Form, URL itself, TLS, …) share state with the request and are not here.
REQUEST_FIELDS: dict[bytes, tuple[str, bytes]] = {
    b"Method": ("method", b"string"),
    b"Host": ("host", b"string"),
    b"RemoteAddr": ("remoteAddr", b"string"),
    b"RequestURI": ("requestURI", b"string"),
    b"Proto": ("proto", b"string"),
    b"ProtoMajor": ("protoMajor", b"int"),
    b"ProtoMinor": ("protoMinor", b"int"),
    b"ContentLength": ("contentLength", b"int64"),
    b"Close": ("closeRequested", b"bool"),
    b"Pattern": ("pattern", b"string"),
    b"URL.Path": ("urlPath", b"string"),
    b"URL.RawPath": ("rawPath", b"string"),
    b"URL.RawQuery": ("rawQuery", b"string"),
    b"URL.Host": ("urlHost", b"string"),
    b"URL.Scheme": ("scheme", b"string"),
    b"URL.Opaque": ("opaque", b"string"),
    b"URL.Fragment": ("fragment", b"string"),
    b"URL.RawFragment": ("rawFragment", b"string"),
    b"URL.ForceQuery": ("forceQuery", b"bool"),
    b"URL.OmitHost": ("omitHost", b"bool"),
}


@dataclass
class _Handler:
    function: Node
    writer: Declaration | None
    request: Declaration | None


@dataclass
class _FieldRead:
    chain: Node  # the selector expression r.A.B
    path: bytes  # b"A.B"


class RequestEscape(Rule):
    """
    ## What it does
    Finds a goroutine started inside an HTTP handler — a function or
    function literal with an `http.ResponseWriter` and an `*http.Request`
    parameter — that uses the handler's request or writer, whether the `go`
    statement is in the handler itself or in a function it defers.

    Left alone:
    - handlers that wait for their goroutines: after the `go` statement the
      handler (or the deferred function holding it) calls a `Wait()` method
      (`sync.WaitGroup`, errgroup), receives from a channel or has a
      `select`;
    - goroutines whose only use of the request is `r.Context()`. The request
      context is made to be handed to goroutines: it is cancelled when the
      handler returns, which is how such goroutines learn to stop, and
      calling `Done()`/`Err()` on it afterwards is well defined;
    - `go f(r.Method)`: arguments of a `go` statement are evaluated when it
      runs, so plain values read there do not escape.

    ## Why is this bad
    Once the handler returns, the server owns the request and the writer
    again: the writer must not be used (writes are lost or panic, and race
    with the server finishing the response), the body is closed, the context
    is cancelled, and the request may be reused or mutated by middleware. A
    goroutine that reads it later races with all of that, and keeps the
    whole request — body buffers included — alive for as long as it runs.

    ## Example
    ```go
    func orders(w http.ResponseWriter, r *http.Request) {
        go func() {
            audit(r.Method + " " + r.URL.Path)
        }()
        fmt.Fprintln(w, "ok")
    }
    ```

    ## Fix
    When the goroutine's function literal only reads plain fields off the
    request (selector chains such as `r.Method` or `r.URL.Path`, from the
    table below), the values are read before the goroutine starts and passed
    as arguments, under fresh names:
    ```go
    func orders(w http.ResponseWriter, r *http.Request) {
        go func(method string, urlPath string) {
            audit(method + " " + urlPath)
        }(r.Method, r.URL.Path)
        fmt.Fprintln(w, "ok")
    }
    ```
    Fields with a fix: `Method`, `Host`, `RemoteAddr`, `RequestURI`, `Proto`,
    `Pattern` (string), `ProtoMajor`, `ProtoMinor` (int), `ContentLength`
    (int64), `Close` (bool), and `URL.Path`, `URL.RawPath`, `URL.RawQuery`,
    `URL.Host`, `URL.Scheme`, `URL.Opaque`, `URL.Fragment`,
    `URL.RawFragment` (string), `URL.ForceQuery`, `URL.OmitHost` (bool).
    Reported without a fix: any use of the writer (the work must be done
    before the handler returns, or the handler must wait for it), method
    calls such as `r.Header.Get("X")` or `r.FormValue("q")`, reference
    fields (`Header`, `Body`, `Form`, `URL`, …), writes to the request, and
    the request passed on as a value (`go process(r)`).

    ## Fix safety
    Safe: the goroutine sees the values the request had when the goroutine
    was started — what it would have seen had it run at once — instead of
    whatever the request holds by the time it runs.
    """

    name = "request-escape"
    summary = "goroutine started in an HTTP handler uses the request or writer after the handler returns"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"net/http",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        http = imported_name(source, b"net/http")
        if http is None:
            return
        writer_type, request_type = http + b".ResponseWriter", b"*" + http + b".Request"
        scopes_by_root: dict[tuple[int, int], FunctionScopes] = {}
        for function in nodes_of_types(source, FUNCTION_KINDS):
            if not descendants_of_types(source, function, ("go_statement",)):
                continue
            root = _outermost_function(function)
            key = (root.start_byte, root.end_byte)
            if key not in scopes_by_root:
                scopes_by_root[key] = source.scopes(root)
            handler = _handler(source, scopes_by_root[key], function, writer_type, request_type)
            if handler is None:
                continue
            for statement in walk(function):
                if statement.type == "go_statement":
                    yield from self._check_goroutine(source, scopes_by_root[key], handler, statement)

    def _check_goroutine(self, source: SourceFile, scopes: FunctionScopes, handler: _Handler, statement: Node) -> Iterator[Diagnostic]:
        request_uses, writer_uses = [], []
        for ident in identifiers(statement):
            decl = scopes.resolve(ident)
            if decl is not None and decl is handler.request:
                request_uses.append(ident)
            elif decl is not None and decl is handler.writer:
                writer_uses.append(ident)
        if not request_uses and not writer_uses:
            return
        if _waits_after(source, statement):
            return
        literal = called_function_literal(statement)
        if literal is None:
            # Arguments are evaluated now; only a request or writer handed over as a value escapes.
            escaping = [u for u in writer_uses + request_uses if _escapes_from_go_call(source, u, statement)]
            if escaping:
                yield self.diagnostic(statement, _handed_over_message(source, escaping))
            return
        handed_over = [u for u in writer_uses + request_uses if not is_inside(u, literal) and _escapes_from_go_call(source, u, statement)]
        if handed_over:
            yield self.diagnostic(statement, _handed_over_message(source, handed_over))
            return
        in_literal = [u for u in request_uses if is_inside(u, literal)]
        writer_in_literal = [u for u in writer_uses if is_inside(u, literal)]
        if not writer_in_literal and in_literal and all(_is_context_call(source, u) for u in in_literal):
            return  # the request context is meant to be shared (see the rule doc)
        if writer_in_literal:
            name = source.text(writer_in_literal[0]).decode()
            yield self.diagnostic(
                statement,
                f"goroutine started in an HTTP handler uses the ResponseWriter {name} after the handler may have returned "
                "(no fix: write the response before returning, or wait for the goroutine)",
            )
            return
        if not in_literal:
            return
        name = source.text(in_literal[0]).decode()
        message = f"goroutine started in an HTTP handler uses the request {name} after the handler may have returned"
        reads, reason = _field_reads(source, in_literal)
        if reads is None:
            yield self.diagnostic(statement, f"{message} (no fix: {reason})")
            return
        fix = _pass_fields_fix(source, literal, reads)
        if fix is None:
            yield self.diagnostic(statement, f"{message} (no fix: the literal's call cannot take more arguments)")
            return
        yield self.diagnostic(statement, message, fix)


RULE = RequestEscape()


def _handed_over_message(source: SourceFile, uses: list[Node]) -> str:
    first = min(uses, key=lambda n: n.start_byte)
    chain = _chain_of(first)
    if _is_called(chain):
        what = f"runs {source.text(chain).decode()}(…), which may use the request or writer"
    else:
        what = f"is handed {source.text(chain).decode()}, which it may use"
    return f"goroutine started in an HTTP handler {what} after the handler returns (no fix)"


# -- finding handlers ---------------------------------------------------------
def _outermost_function(function: Node) -> Node:
    outer = function
    for parent in ancestors(function):
        if parent.type in FUNCTION_KINDS:
            outer = parent
    return outer


def _handler(source: SourceFile, scopes: FunctionScopes, function: Node, writer_type: bytes, request_type: bytes) -> _Handler | None:
    parameters = function.child_by_field_name("parameters")
    if parameters is None:
        return None
    writer = request = None
    has_writer = has_request = False
    for declaration in parameters.named_children:
        if declaration.type != "parameter_declaration":
            continue
        spelled = b"".join(source.text(declaration.child_by_field_name("type")).split()) if declaration.child_by_field_name("type") else b""
        if spelled not in (writer_type, request_type):
            continue
        for ident in declaration.children_by_field_name("name"):
            decl = scopes.resolve(ident)
            if spelled == writer_type:
                has_writer, writer = True, decl
            else:
                has_request, request = True, decl
        if not declaration.children_by_field_name("name"):
            if spelled == writer_type:
                has_writer = True
            else:
                has_request = True
    if not (has_writer and has_request):
        return None
    return _Handler(function, writer, request)


# -- does the handler wait? ---------------------------------------------------
def _waits_after(source: SourceFile, statement: Node) -> bool:
    """True when the function holding ``statement`` waits (Wait(), a receive, a select) after it."""
    holder = next((p for p in ancestors(statement) if p.type in FUNCTION_KINDS), None)
    body = holder.child_by_field_name("body") if holder is not None else None
    if body is None:
        return False
    for node in walk_no_funcs(body):
        if node.start_byte < statement.end_byte:
            continue
        if node.type == "select_statement":
            return True
        if node.type == "unary_expression" and source.text(node).startswith(b"<-"):
            return True
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            field = function.child_by_field_name("field") if function is not None and function.type == "selector_expression" else None
            if field is not None and source.text(field) == b"Wait":
                return True
    return False


# -- how the goroutine uses the request ---------------------------------------
def _chain_of(ident: Node) -> Node:
    """The longest selector chain ``ident.A.B…`` that starts at ``ident``."""
    node = ident
    parent = node.parent
    while parent is not None and parent.type == "selector_expression" and parent.child_by_field_name("operand") == node:
        node, parent = parent, parent.parent
    return node


def _is_called(node: Node) -> bool:
    parent = node.parent
    return parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == node


def _is_context_call(source: SourceFile, ident: Node) -> bool:
    selector = ident.parent
    if selector is None or selector.type != "selector_expression" or selector.child_by_field_name("operand") != ident:
        return False
    field = selector.child_by_field_name("field")
    return field is not None and source.text(field) == b"Context" and _is_called(selector)


def _field_path(source: SourceFile, ident: Node, chain: Node) -> bytes:
    return b"".join(source.text(chain)[len(source.text(ident)) :].split()).lstrip(b".")


def _is_written(source: SourceFile, node: Node) -> bool:
    parent = node.parent
    if parent is None:
        return False
    if parent.type in ("inc_dec_statement",):
        return True
    if parent.type == "unary_expression" and source.text(parent).startswith(b"&"):
        return True
    if parent.type == "expression_list" and parent.parent is not None and parent.parent.type == "assignment":
        return parent.parent.child_by_field_name("left") == parent
    return False


def _field_reads(source: SourceFile, uses: list[Node]) -> tuple[list[_FieldRead] | None, str]:
    """Every use as a plain field read from REQUEST_FIELDS, or None and why not."""
    reads = []
    for ident in uses:
        chain = _chain_of(ident)
        if chain == ident:
            return None, f"the request {source.text(ident).decode()} itself is used, not only its fields"
        if _is_called(chain):
            return None, f"it calls {source.text(chain).decode()}(…)"
        path = _field_path(source, ident, chain)
        if _is_written(source, chain):
            return None, f"it writes {source.text(chain).decode()}"
        if path not in REQUEST_FIELDS:
            return None, f"{source.text(chain).decode()} is not a plain value field with a known type"
        reads.append(_FieldRead(chain, path))
    return reads, ""


def _escapes_from_go_call(source: SourceFile, ident: Node, statement: Node) -> bool:
    """In `go f(args)`, True unless ``ident`` is only read for a plain field or its context."""
    if _is_context_call(source, ident):
        return False
    chain = _chain_of(ident)
    if chain == ident or _is_called(chain):
        return True
    return _field_path(source, ident, chain) not in REQUEST_FIELDS


# -- the fix -----------------------------------------------------------------
def _pass_fields_fix(source: SourceFile, literal: Node, reads: list[_FieldRead]) -> Fix | None:
    chosen: dict[bytes, bytes] = {}  # field path (b"URL.Path") -> new name
    order: list[tuple[bytes, bytes, bytes]] = []  # (name, type, argument text)
    taken: set[bytes] = set()
    for read in reads:
        if read.path in chosen:
            continue
        base, type_name = REQUEST_FIELDS[read.path]
        name = fresh_name(source.data, source.root, base, taken).encode()
        taken.add(name)
        chosen[read.path] = name
        order.append((name, type_name, b"".join(source.text(read.chain).split())))
    signature = add_parameters(literal, [(name, type_name) for name, type_name, _ in order], [text for _, _, text in order])
    if signature is None:
        return None
    edits = [Edit(read.chain.start_byte, read.chain.end_byte, chosen[read.path]) for read in reads] + signature
    fields = ", ".join(text.decode() for _, _, text in order)
    return Fix(f"Read {fields} before the goroutine starts and pass them as arguments", tuple(edits), Applicability.SAFE)

