"""request-escape: a goroutine started in an HTTP handler keeps using the request or writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.channels import is_close_of
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.lexical import GO_STATEMENT
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes, fresh_name
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.parameters import add_parameters
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule, says

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
    parameter and no results, as `http.HandlerFunc` has — that uses the handler's request or writer, whether the `go`
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
    - goroutines whose only use of the request is `r.Body.Close()`: the
      server closes the body itself once the handler returns, and a Close
      from another goroutine (grpc-go cancels a pending read this way) is
      allowed at any time; reading the body later is not, and is reported;
    - `go f(r.Method)`: arguments of a `go` statement are evaluated when it
      runs, so plain values read there do not escape;
    - goroutines told when the handler returns, that use the request only on
      an event before that: each use is in a `select` case whose select also
      receives from a channel the handler's defers send on or close (a
      client-gone watcher: `case <-closed: log(r.RemoteAddr); cancel()` next
      to `case <-done:`, with `defer func() { done <- true }()`).

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
    requires = (Scopes,)

    def applies_to(self, source) -> bool:
        # A handler (it names the request) that starts a goroutine.
        return super().applies_to(source) and says(source, b"Request") and says(source, GO_STATEMENT)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        http = imported_name(source, b"net/http")
        if http is None:
            return
        writer_type, request_type = http + b".ResponseWriter", b"*" + http + b".Request"
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            goroutines = descendants_of_types(source, function, syntax.GO_KINDS)
            if not goroutines:
                continue
            scopes = source.scopes(syntax.outermost_function(function) or function)
            handler = _handler(source, scopes, function, writer_type, request_type)
            if handler is None:
                continue
            for statement in goroutines:
                yield from self._check_goroutine(source, scopes, handler, statement)

    def _check_goroutine(self, source: SourceFile, scopes: FunctionScopes, handler: _Handler, statement: Node) -> Iterator[Diagnostic]:
        request_uses, writer_uses = [], []
        for ident in syntax.identifiers(statement):
            decl = scopes.resolve(ident)
            if decl is not None and decl is handler.request:
                request_uses.append(ident)
            elif decl is not None and decl is handler.writer:
                writer_uses.append(ident)
        if not request_uses and not writer_uses:
            return
        if _waits_after(source, statement):
            return
        if not writer_uses and all(_closes_body(source, u) for u in request_uses):
            return  # closing the body is safe at any time (the server closes it too)
        literal = syntax.called_function_literal(statement)
        if literal is None:
            # Arguments are evaluated now; only a request or writer handed over as a value escapes.
            escaping = [u for u in writer_uses + request_uses if _escapes_from_go_call(source, u)]
            if escaping:
                yield self.diagnostic(statement, _handed_over_message(source, escaping))
            return
        handed_over = [u for u in writer_uses + request_uses if not syntax.is_inside(u, literal) and _escapes_from_go_call(source, u)]
        if handed_over:
            yield self.diagnostic(statement, _handed_over_message(source, handed_over))
            return
        in_literal = [u for u in request_uses if syntax.is_inside(u, literal)]
        writer_in_literal = [u for u in writer_uses if syntax.is_inside(u, literal)]
        if not writer_in_literal and in_literal and all(_is_context_call(source, u) for u in in_literal):
            return  # the request context is meant to be shared (see the rule doc)
        if not writer_in_literal and in_literal and _told_when_done(source, scopes, handler, literal, in_literal):
            return  # it uses the request only on an event before the handler's end
        if writer_in_literal:
            name = source.text(writer_in_literal[0]).decode()
            message = f"goroutine started in an HTTP handler uses the ResponseWriter {name} after the handler may have returned"
            yield self.diagnostic(statement, NoFix("write the response before returning, or wait for the goroutine").annotate(message))
            return
        if not in_literal:
            return
        name = source.text(in_literal[0]).decode()
        message = f"goroutine started in an HTTP handler uses the request {name} after the handler may have returned"
        reads = _field_reads(source, in_literal)
        fix = reads if isinstance(reads, NoFix) else _pass_fields_fix(source, literal, reads)
        if isinstance(fix, NoFix):
            yield self.diagnostic(statement, fix.annotate(message))
            return
        yield self.diagnostic(statement, message, fix)


RULE = RequestEscape()


def _handed_over_message(source: SourceFile, uses: list[Node]) -> str:
    first = min(uses, key=lambda n: n.start_byte)
    chain = syntax.selector_chain(first)
    if syntax.is_part_of_call_callee(chain):
        what = f"runs {source.text(chain).decode()}(…), which may use the request or writer"
    else:
        what = f"is handed {source.text(chain).decode()}, which it may use"
    return f"goroutine started in an HTTP handler {what} after the handler returns (no fix)"


# -- finding handlers ---------------------------------------------------------
def _handler(source: SourceFile, scopes: FunctionScopes, function: Node, writer_type: bytes, request_type: bytes) -> _Handler | None:
    """The handler's writer and request parameters, when ``function`` has both (named or not)
    and no results: an `http.HandlerFunc` returns nothing, so a function that returns a value
    (`func DecodeHTTP(w http.ResponseWriter, r *http.Request) Decoder`) is a helper its
    handler calls, and that handler decides how long to stay (it may wait for what it got)."""
    if syntax.result_count(function):
        return None
    writer = request = None
    has_writer = has_request = False
    for parameter in syntax.parameters_of(syntax.parameter_list(function)):
        spelled = b"".join(source.text(parameter.type).split()) if parameter.type is not None else b""
        if spelled not in (writer_type, request_type):
            continue
        for ident in parameter.names:
            decl = scopes.resolve(ident)
            if spelled == writer_type:
                has_writer, writer = True, decl
            else:
                has_request, request = True, decl
        if not parameter.names:
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
    body = syntax.function_body(syntax.enclosing_function(statement))
    if body is None:
        return False
    for node in syntax.walk_no_funcs(body):
        if node.start_byte < statement.end_byte:
            continue
        if syntax.is_select(node) or syntax.is_receive(node):
            return True
        parts = syntax.selector_call(node) if syntax.is_call(node) else None
        if parts is not None and source.text(parts[1]) == b"Wait":
            return True
    return False


def _told_when_done(source: SourceFile, scopes: FunctionScopes, handler: _Handler, literal: Node, uses: list[Node]) -> bool:
    """Is the goroutine told when the handler returns, and does it use the request only
    on an event that comes first? Each use lies in the body of a select case whose
    select, in the goroutine, also receives from a channel the handler's defers send on
    or close (`defer func() { done <- true }()`): the goroutine waits for either, and
    takes the request-using case only while the handler still runs (a client-gone
    watcher, cancelling the handler's work)."""
    signals = _return_signals(source, scopes, handler.function)
    if not signals:
        return False
    for use in uses:
        clause = next((a for a in syntax.ancestors(use) if syntax.is_select_case(a) or a == literal), None)
        if clause is None or clause == literal or clause.parent is None or not syntax.is_select(clause.parent):
            return False
        communication = syntax.select_communication(clause)
        if communication is not None and syntax.is_inside(use, communication):
            return False  # used to wait, not on the event
        others = [c for c in syntax.switch_cases(clause.parent) if not syntax.same_node(c, clause)]
        if not any(_receives_from(scopes, c, signals) for c in others):
            return False
    return True


def _return_signals(source: SourceFile, scopes: FunctionScopes, function: Node) -> set[tuple[int, int]]:
    """The channels (declaration keys) the function's defers send on or close: `defer
    close(done)`, or a deferred literal whose own statements do `done <- v` or `close(done)`."""
    found: set[tuple[int, int]] = set()
    for node in syntax.walk_no_funcs(syntax.function_body(function)):
        if not syntax.is_defer(node):
            continue
        call = syntax.call_of(node)
        literal = syntax.called_function_literal(node)
        statements = syntax.statements(syntax.function_body(literal)) if literal is not None else [node]
        for statement in statements:
            channel = None
            if syntax.is_send(statement):
                channel = syntax.send_channel(statement)
            elif literal is not None:
                channel = is_close_of(source, statement)
            elif call is not None and syntax.is_builtin_call(call, b"close"):
                arguments = syntax.call_arguments(call)
                channel = arguments[0] if len(arguments) == 1 else None
            channel = syntax.unparen(channel) if channel is not None else None
            declaration = scopes.resolve(channel) if channel is not None and syntax.is_identifier(channel) else None
            if declaration is not None:
                found.add(declaration.key)
    return found


def _receives_from(scopes: FunctionScopes, clause: Node, channels: set[tuple[int, int]]) -> bool:
    """Does the select case's communication receive from one of ``channels``?"""
    communication = syntax.select_communication(clause)
    for node in syntax.walk(communication) if communication is not None else ():
        if syntax.is_receive(node):
            operand = syntax.unary_operand(node)
            operand = syntax.unparen(operand) if operand is not None else None
            declaration = scopes.resolve(operand) if operand is not None and syntax.is_identifier(operand) else None
            if declaration is not None and declaration.key in channels:
                return True
    return False


# -- how the goroutine uses the request ---------------------------------------
def _is_context_call(source: SourceFile, ident: Node) -> bool:
    """`r.Context()`."""
    method = syntax.method_called_on(ident)
    return method is not None and source.text(method) == b"Context"


def _closes_body(source: SourceFile, ident: Node) -> bool:
    """`r.Body.Close()`: net/http closes the request body itself after the handler, and a
    Close from another goroutine (grpc-go cancels a stream read this way) is allowed."""
    chain = syntax.selector_chain(ident)
    return b"".join(source.text(chain).split()) == source.text(ident) + b".Body.Close" and syntax.is_part_of_call_callee(chain)


def _field_path(source: SourceFile, ident: Node, chain: Node) -> bytes:
    """b"URL.Path" for the chain `r.URL.Path` starting at r."""
    return b"".join(source.text(chain)[len(source.text(ident)) :].split()).lstrip(b".")


def _field_reads(source: SourceFile, uses: list[Node]) -> list[_FieldRead] | NoFix:
    """Every use as a plain field read from REQUEST_FIELDS, or why not."""
    reads = []
    for ident in uses:
        chain = syntax.selector_chain(ident)
        if chain == ident:
            return NoFix(f"the request {source.text(ident).decode()} itself is used, not only its fields")
        if syntax.is_part_of_call_callee(chain):
            return NoFix(f"it calls {source.text(chain).decode()}(…)")
        path = _field_path(source, ident, chain)
        if syntax.is_write_target(chain):
            return NoFix(f"it writes {source.text(chain).decode()}")
        if path not in REQUEST_FIELDS:
            return NoFix(f"{source.text(chain).decode()} is not a plain value field with a known type")
        reads.append(_FieldRead(chain, path))
    return reads


def _escapes_from_go_call(source: SourceFile, ident: Node) -> bool:
    """In `go f(args)`, True unless ``ident`` is only read for a plain field or its context."""
    if _is_context_call(source, ident):
        return False
    chain = syntax.selector_chain(ident)
    if chain == ident or syntax.is_part_of_call_callee(chain):
        return True
    return _field_path(source, ident, chain) not in REQUEST_FIELDS


# -- the fix -----------------------------------------------------------------
def _pass_fields_fix(source: SourceFile, literal: Node, reads: list[_FieldRead]) -> Fix | NoFix:
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
        return NoFix("the literal's call cannot take more arguments")
    edits = [Edit(read.chain.start_byte, read.chain.end_byte, chosen[read.path]) for read in reads] + signature
    fields = ", ".join(text.decode() for _, _, text in order)
    return Fix(f"Read {fields} before the goroutine starts and pass them as arguments", tuple(edits), Applicability.SAFE)
