"""Questions answered from a file's bytes alone, before any parse: the prefilter.

Each answer may say yes when the parse would say no, never the other way
round for a file that parses: a rule that asks one in ``applies_to`` skips
only files it could not report in. The scans know Go's lexical rules
(strings, raw strings, runes and comments hold no code), nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gofix_defer.codemods.model import says

# String, rune and comment literals: skipped whole by the scans, so that a brace or
# keyword inside one counts for nothing.
_LITERALS = rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|`[^`]*`|\'[^\'\\\n]*(?:\\.[^\'\\\n]*)*\'|//[^\n]*|/\*.*?\*/'


def _tokens(*keywords: bytes) -> "re.Pattern[bytes]":
    """The tokens that matter to a scan: literals, the ``keywords``, braces."""
    return re.compile(b"|".join([_LITERALS, *(keyword + rb"\b" for keyword in keywords), rb"[{}]"]), re.DOTALL)


_OPEN, _CLOSE, _SLASH = ord("{"), ord("}"), ord("/")
# Bytes that continue a name (a keyword matched inside `xfor` is no keyword). The
# pattern has no leading `\b`: without it, the regex engine skips to candidate bytes
# fast, which doubles the scan's speed.
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") | frozenset(range(0x80, 0x100))


def starts_name(data: bytes, start: int) -> bool:
    """May a name start at ``start``: does no name byte come right before it? (The check a
    pattern that starts with its literal rather than ``\\b``, to run at C speed, makes
    after matching.)"""
    return start == 0 or data[start - 1] not in _NAME_BYTES


def _name_ends(data: bytes, end: int) -> bool:
    """Does no name byte come at ``end`` (a name found there ends there)?"""
    return end == len(data) or data[end] not in _NAME_BYTES


# `defer func(`: a defer of a function literal; `go func(`: a goroutine of one (also
# parenthesised: `go (func() {…})()`). These start with a literal, not `\b` (`undefer
# func(` matches too: a yes is always safe), so that the regex engine searches for the
# literal at C speed.
DEFERRED_LITERAL = re.compile(rb"defer[\s(]*func\s*\(")
STARTED_LITERAL = re.compile(rb"go[\s(]*func\s*\(")
# `make(chan`: a channel made from a channel type literal (blanks allowed after `(`).
MADE_CHANNEL = re.compile(rb"make\(\s*chan\b")
# What stands before a `make(chan` on its line (or after the `{` or `;` that starts its
# statement) when the channel is the one value given to one name: `x := `, `x = `,
# `var x = ` (and `s.x = `: a field's, whose name is one too many, never one too few).
_ONE_NAME_GIVEN = re.compile(rb"(?:^|[{;])[ \t]*(?:var[ \t]+)?(?:\w+[ \t]*\.[ \t]*)*(\w+)[ \t]*:?=[ \t]*$")


_MADE_ANY_CHANNEL = re.compile(rb"make\(\s*(?:<-\s*)?chan\b")  # `make(<-chan T)` too


def made_channel_names(text: bytes) -> frozenset[bytes] | None:
    """The names given a channel by the `make(chan …)` calls of ``text``: `x` of `x :=
    make(chan T)`, `x = make(chan T)` and `var x = make(chan T)`. None when one of those
    calls stands anywhere else (`a, b := make(chan int), make(chan int)`, `f(make(chan
    int))`, a declaration split over lines): then the bytes do not say which names hold
    the channels. A name of a declaration the parse finds (``Channels.made_in``) is
    always among them."""
    names = set()
    for match in _MADE_ANY_CHANNEL.finditer(text):
        line = text[text.rfind(b"\n", 0, match.start()) + 1 : match.start()]
        given = _ONE_NAME_GIVEN.search(line)
        if given is None:
            return None
        names.add(given.group(1))
    return frozenset(names)


# `go f()`: a go statement (the keyword and white space, as gofmt writes it).
GO_STATEMENT = re.compile(rb"go\s")
# `defer X.Lock()`, `defer X.RLock()` (the operand on one line, as it is written).
DEFERRED_LOCK = re.compile(rb"defer\s+[^\n]*Lock\(")


_LITERAL_TOKENS = re.compile(_LITERALS, re.DOTALL)


def inside_literal(data: bytes, at: int) -> bool:
    """Does the byte at ``at`` lie inside a comment, a string or a rune literal?"""
    for match in _LITERAL_TOKENS.finditer(data):
        if match.start() > at:
            return False
        if at < match.end():
            return True
    return False


def starts_literal_from_deferred_literal(source) -> bool:
    """May a deferred function literal of ``source`` (a file, parsed or not) start a
    goroutine of a function literal?"""
    return says(source, DEFERRED_LITERAL) and says(source, STARTED_LITERAL)


def defer_inside_loop(data: bytes) -> bool:
    """May a `defer` statement lie inside the body of a `for` loop?

    Yes when a `defer` sits inside a brace opened after a `for` of the same block:
    the loop's body, but also (generously) a composite literal of its header or any
    block that follows the loop in that block. Not inside a function literal's body
    (its defers are its own: only its own loops count). Unbalanced braces answer
    yes."""
    return _inside_loop(data, _DEFER_TOKENS, (b"defer",))


def loop_closure_may_read_loop_variable(data: bytes) -> bool:
    """May a function literal run after its iteration read a variable its loop declares?

    Yes when, inside the body of a `for` loop whose header declares names
    (`for i := 0; …`, `for k, v := range …`), there is a `go` or `defer` word, or a
    `Run` word in a file that says `Parallel` (a subtest runs after its iteration only
    once it calls `t.Parallel()`), and a `func` literal in such a body spells one of the
    loop's names. As ``defer_inside_loop`` otherwise: generous about what a brace
    after a `for` opens, blind to another function's loops, yes for unbalanced braces."""
    words = (b"go", b"defer", b"Run") if b"Parallel" in data else (b"go", b"defer")
    return _inside_loop(data, _GO_DEFER_RUN_TOKENS, words, closures=True)


_DEFER_TOKENS = _tokens(b"for", b"func", b"defer")
_GO_DEFER_RUN_TOKENS = _tokens(b"for", b"func", b"go", b"defer", b"Run")
# What a `for` header that declares starts with: names, commas, blanks and comments up
# to `:=` (a short variable declaration's names come before anything else it holds).
_BLANKS_OR_COMMENTS = rb"(?:\s|//[^\n]*\n|/\*.*?\*/)*"
_NAME_PATTERN = rb"[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*"
_DECLARING_HEADER = re.compile(
    _BLANKS_OR_COMMENTS + b"(" + _NAME_PATTERN + b"(?:" + _BLANKS_OR_COMMENTS + b"," + _BLANKS_OR_COMMENTS + _NAME_PATTERN + b")*)" + _BLANKS_OR_COMMENTS + b":=",
    re.DOTALL,
)
_NAMES = re.compile(_NAME_PATTERN)


def _declared_by_header(data: bytes, after_for: int) -> tuple[bytes, ...]:
    """The names (but `_`) a `for` header declares, read from just after its keyword."""
    header = _DECLARING_HEADER.match(data, after_for)
    return tuple(name for name in _NAMES.findall(header.group(1)) if name != b"_") if header else ()


def _spells_any(text: bytes, names: list[bytes]) -> bool:
    """Does ``text`` hold one of ``names`` as a whole word (comments and strings too)?"""
    return any(says_word(text, name) for name in names)


def _inside_loop(data: bytes, tokens: "re.Pattern[bytes]", words: tuple[bytes, ...], closures: bool = False) -> bool:
    """Does one of ``words`` lie inside a loop's body (see ``defer_inside_loop``)? With
    ``closures``, only the loops whose header declares names count, and a `func`
    literal in such a body must spell one of them too (see
    ``loop_closure_may_read_loop_variable``)."""
    last = max(data.rfind(word) for word in words)
    if last < 0 or data.find(b"for", 0, last) < 0:
        return False
    # Nothing after the last of the words can change the answer; with closures, nothing
    # after the last `func` either (a `go func(){…}()` has its literal after the word).
    stop = last + max(len(word) for word in words)
    if closures:
        stop = max(stop, data.rfind(b"func") + len(b"func"))
    # Per open brace: None, or opened after a `for` of its block, with the names that
    # block's `for` headers declare (empty unless ``closures``).
    loopish: list[tuple[bytes, ...] | None] = []
    after_for: list[tuple[bytes, ...] | None] = [None]  # per block: the names of the `for`s seen in it
    inside = 0  # open braces that are loopish
    declaring = 0  # open braces that are loopish with names
    bodies: set[int] = set()  # where the `{` of a function's body is
    outer: list[tuple[list, list, int, int]] = []  # the contexts around a function body
    word_seen = closure_seen = False  # with closures: the two halves of a yes
    for match in tokens.finditer(data, 0, stop):
        token = match.group()
        first = token[0]
        if first == _OPEN:
            if match.start() in bodies:  # a function's own code: the loops around it do not count
                outer.append((loopish, after_for, inside, declaring))
                loopish, after_for, inside, declaring = [], [None], 0, 0
            opened = after_for[-1]
            loopish.append(opened)
            inside += opened is not None
            declaring += bool(opened)
            after_for.append(None)
        elif first == _CLOSE:
            if not loopish:
                return True
            closed = loopish.pop()
            inside -= closed is not None
            declaring -= bool(closed)
            after_for.pop()
            if not loopish and outer:  # the function body's own brace
                loopish, after_for, inside, declaring = outer.pop()
        elif token == b"for":
            if starts_name(data, match.start()):  # not the end of a longer name (`xfor`)
                names = _declared_by_header(data, match.end()) if closures else ()
                after_for[-1] = (after_for[-1] or ()) + names
        elif token == b"func":
            # Only a body that would open in a loop's reach needs its own context (a
            # declaration's never does: no loop is open at the top level).
            if (inside or after_for[-1] is not None) and starts_name(data, match.start()):
                found = _signature_end(data, match.start())
                if found is not None and found[1]:
                    bodies.add(found[0])  # (a func type's composite literal too: it holds no statement)
                    if declaring and not closure_seen:
                        end = _block_end(data, found[0])
                        open_names = [name for opened in loopish if opened for name in opened]
                        closure_seen = end is None or _spells_any(data[match.start() : end], open_names)
                        if closure_seen and word_seen:
                            return True
        elif token in words:
            if inside and starts_name(data, match.start()):
                if not closures:
                    return True
                if declaring:
                    word_seen = True
                    if closure_seen:
                        return True
    return False


# `.mu.Lock(` / `mu.RLock(` (the operand, and the field it ends in when it has one),
# and any other `Lock` or `RLock` word of the code.
_LOCK_TOKENS = re.compile(
    b"|".join([_LITERALS, rb"(\.\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*R?Lock\s*\(", rb"R?Lock\b"]), re.DOTALL
)
ANY_FIELD = b""  # a lock whose field the bytes do not say


def lock_fields_taken(data: bytes) -> frozenset[bytes]:
    """The fields of the locks the code takes: `mu` for `s.mu.Lock()` or `s.mu.RLock()`,
    with ``ANY_FIELD`` for a lock call on an operand that ends in no field (`mu.Lock()`,
    `f().Lock()`) and for any other `Lock` or `RLock` word of the code (a method value,
    a method declared so). `TryLock`, `Locker` and words in comments or strings count
    for nothing."""
    if b"Lock" not in data:
        return frozenset()  # most code takes no lock: no need to step over its literals
    fields = set()
    for match in _LOCK_TOKENS.finditer(data):
        start = match.start()
        first = data[start]
        if first in _LITERAL_STARTS and match.lastindex is None:
            continue  # a literal
        if match.lastindex is not None:
            fields.add(match.group(2) if match.group(1) else ANY_FIELD)
        elif start == 0 or data[start - 1] not in _NAME_BYTES:
            fields.add(ANY_FIELD)  # `Lock` as a word of its own, not a `.f.Lock(` call
    return frozenset(fields)


_LITERAL_STARTS = frozenset(b"\"`'/")


# Tokens for the struct scan: literals and comments (skipped whole), the two keywords, braces.
_STRUCT_TOKENS = _tokens(b"struct", b"chan")


def struct_says_chan(data: bytes) -> bool:
    """May a struct type of the file have a field whose stated type is a channel?

    Yes when `chan` sits inside the braces of a `struct { … }`, at any depth (a
    field `done chan struct{}`, `m map[string]chan int`, a local struct type, a
    struct field of a struct field). Unbalanced braces answer yes."""
    last = data.rfind(b"chan")
    if last < 0 or data.find(b"struct", 0, last) < 0:
        return False
    struct_body: list[bool] = []  # per open brace: is it a struct's
    inside = 0  # open braces that are a struct's
    after_struct = False  # the last token was the keyword `struct`
    for match in _STRUCT_TOKENS.finditer(data):
        token = match.group()
        first = token[0]
        if first == _OPEN:
            struct_body.append(after_struct)
            inside += after_struct
        elif first == _CLOSE:
            if not struct_body:
                return True
            inside -= struct_body.pop()
        elif token == b"chan":
            if inside and starts_name(data, match.start()):
                return True
        elif token == b"struct":
            after_struct = starts_name(data, match.start())
            continue
        elif first == _SLASH:
            continue  # a comment between `struct` and its brace
        after_struct = False
    return False


def may_declare(data: bytes, name: bytes) -> bool:
    """May the file declare a type or variable ``name`` at the top level?

    Yes when the name, as a whole word, follows only blanks after the start of a
    line, `(`, `;`, `,` (`var a, name int`), the end of a comment, or the keyword
    `type` or `var`: where a spec of `type`, `type (…)`, `var` or `var (…)` can
    start, however it is laid out; never when a `.` follows it (`syscall.Close(fd)`
    starting a statement's line selects from a package or value: no spec name is
    followed by one). (Each place the name occurs is looked at from there: a search
    for the name runs at C speed, a pattern that starts with an alternation would
    try every byte.)"""
    at = data.find(name)
    while at >= 0:
        end = at + len(name)
        if _name_ends(data, end) and not _selects(data, end):
            before = at
            while before > 0 and data[before - 1] in _BLANKS:
                before -= 1
            if before == 0 or data[before - 1] in _SPEC_STARTS or data.endswith(b"*/", 0, before):
                return True
            if before != at and (data.endswith(b"type", 0, before) or data.endswith(b"var", 0, before)):
                keyword = before - (4 if data.endswith(b"type", 0, before) else 3)
                if starts_name(data, keyword):
                    return True
        at = data.find(name, at + 1)
    return False


_BLANKS = frozenset(b" \t")
_SPEC_STARTS = frozenset(b"\n\r(;,")
_DOT = ord(".")


def _selects(data: bytes, end: int) -> bool:
    """Does a `.` follow the name ending at ``end`` (blanks aside): `name.Field`?"""
    while end < len(data) and data[end] in _BLANKS:
        end += 1
    return end < len(data) and data[end] == _DOT


def says_word(data: bytes, word: bytes) -> bool:
    """Does ``word`` occur as a whole name (no name byte on either side)? Every selector
    `x.word`, keyed element `word: v` and call `word(…)` spells it so."""
    at = data.find(word)
    while at >= 0:
        if starts_name(data, at) and _name_ends(data, at + len(word)):
            return True
        at = data.find(word, at + 1)
    return False


# Tokens of a declaration's signature: literals and comments, names (keywords and
# numbers too), line ends, and any other byte but blanks.
_SIGNATURE_TOKENS = re.compile(b"|".join([_LITERALS, rb"[A-Za-z0-9_\x80-\xff]+", rb"\n", rb"\S"]), re.DOTALL)
_BODY_TOKENS = _tokens()  # literals and braces
# Keywords after which a line end inserts no semicolon (Go spec, "Semicolons"): all but
# break, continue, fallthrough and return.
_CONTINUING_KEYWORDS = frozenset(
    b"case chan const default defer else for func go goto if import interface map package range select struct switch type var".split()
)
_ENDS_OPERAND = frozenset(b")]}\"'`")


def function_declaration_end(data: bytes, start: int) -> int | None:
    """Where the function declaration whose `func` keyword is at ``start`` ends: just past
    its body's closing brace, or, for a declaration without a body (implemented in
    assembly), where its signature ends. None when the bytes do not say (unbalanced
    brackets, or the file ends first).

    The body is the first `{` outside the signature's brackets that does not open a
    `struct { … }` or `interface { … }` type; a line end outside brackets after a name,
    literal or closing bracket ends a declaration with no body, as Go's semicolon
    insertion does."""
    found = _signature_end(data, start)
    if found is None:
        return None
    end, has_body = found
    return _block_end(data, end) if has_body else end


def _signature_end(data: bytes, start: int) -> tuple[int, bool] | None:
    """From the `func` keyword at ``start``: (where its body's `{` is, True), or (where
    the signature ends, False) when no body follows; None when the bytes do not say
    (a closing bracket it did not open: a func type among parameters)."""
    depth = 0  # open (, [ and type-literal { of the signature
    last = b""  # the last token that is not a comment
    for match in _SIGNATURE_TOKENS.finditer(data, start):
        token = match.group()
        first = token[0]
        if first == _SLASH and token[1:2] in (b"/", b"*"):
            if b"\n" not in token:
                continue  # a comment is no token
            token, first = b"\n", ord("\n")  # a general comment over lines acts as a line end
        if first == _NEWLINE:
            if depth == 0 and _inserts_semicolon(last):
                return match.start(), False
            continue
        if token == b";" and depth == 0:
            return match.start(), False
        if first == _OPEN and depth == 0 and last not in (b"struct", b"interface"):
            return match.start(), True
        if depth == 0 and first not in _NAME_BYTES and first not in _SIGNATURE_BYTES:
            return None  # `:`, `=`, `,`…: a func type in a case or a declaration, no signature
        if first in _OPENERS:
            depth += 1
        elif first in _CLOSERS:
            depth -= 1
            if depth < 0:
                return None
        last = token
    return None


_NEWLINE = ord("\n")
# What a signature holds outside brackets besides names: a qualified name's dot,
# pointers, channel arrows, brackets and type-literal braces.
_SIGNATURE_BYTES = frozenset(b".*<-()[]{}")
_OPENERS = frozenset(b"([{")
_CLOSERS = frozenset(b")]}")


def _inserts_semicolon(token: bytes) -> bool:
    """Does a line end after ``token`` end the statement (Go's semicolon insertion)?"""
    if not token:
        return False
    if token[0] in _NAME_BYTES:
        return token not in _CONTINUING_KEYWORDS
    return token[0] in _ENDS_OPERAND


def _block_end(data: bytes, opening: int) -> int | None:
    """Just past the `}` that closes the `{` at ``opening`` (None: it is never closed)."""
    depth = 0
    for match in _BODY_TOKENS.finditer(data, opening):
        first = match.group()[0]
        if first == _OPEN:
            depth += 1
        elif first == _CLOSE:
            depth -= 1
            if depth == 0:
                return match.end()
    return None


# How the bytes spell an operation on a selector ending in a field (group 1), read around
# each `<-`, `range` and `close(` (rarer than the dots a pattern starting with `.` tries).
_SPELLED_ARROW = re.compile(rb"<-")
_SPELLED_SENT_ON = re.compile(rb"\.\s*(\w+)\s*$")  # before `<-`
_SPELLED_NAME = re.compile(rb"\.\s*(\w+)")  # every selector's name in what `<-` or `range` reads
# These three start with their literal, not `\b`, so that the regex engine scans for it at
# C speed (with the getter below, FieldSpellings.of became 7x faster); each match is then
# checked to start a name (starts_name).
_SPELLED_RANGE = re.compile(rb"range\b")
_SPELLED_CLOSE = re.compile(rb"close\s*\(")
_SPELLED_CLOSED = re.compile(rb"[^()]*\.\s*(\w+)\s*\)")  # after `close(`
_SPELLED_CHAN = re.compile(rb"chan\b")
# A method with no parameters returning a channel, its `func` starting a line: run on the
# bytes after a newline put first, for `\n` is a literal to scan for and `(?m)^` is not.
_SPELLED_GETTER = re.compile(rb"\nfunc\s*\([^)]*\)\s*(\w+)\s*\(\s*\)\s*(?:<-\s*)?chan\b")
_SPELLED_FIELD_NAMES_BEFORE = re.compile(rb"^(?:[^\n]*[{;])?[ \t]*(\w+(?:[ \t]*,[ \t]*\w+)*)[ \t]+(?:<-[ \t]*)?$")  # a struct's field
_SPELLED_LOOK_BACK = 80  # bytes before a `<-` that can hold the selector it sends on
_SPELLED_COPIED = re.compile(rb"(?m)=[ \t]*[\w.\[\]()]*\.[ \t]*(\w+)[ \t]*(?://.*)?$")  # `c := x.f` ending its line
# `g(a, x.f)`, not `close(x.f)`; written to start on a `,` or `(` (a set the regex engine
# scans for), not on an alternation, which made it the costliest pattern here (5x).
_SPELLED_HANDED = re.compile(rb"[,(](?<!close\()(?<!len\()(?<!cap\()[ \t]*[\w.\[\]]*\.[ \t]*(\w+)[ \t]*[,)]")
_SPELLED_SET = re.compile(rb"\.[ \t]*(\w+)[ \t]*=[ \t]*(?!make\b|nil\b)[\w&*(]")  # `x.f = done`: a channel made elsewhere
# `T{f: done}`: what follows a key's colon; the key is the word before it (_keyed_names).
_SPELLED_KEY_COLON = re.compile(rb":[ \t]*(?!make\b|nil\b)[\w&*(]")
_WORD_BYTES = _NAME_BYTES - frozenset(range(0x80, 0x100))  # `\w` of a bytes pattern: the ASCII name bytes


def _keyed_names(data: bytes) -> list[bytes]:
    r"""What `re.findall(rb"\b(\w+):[ \t]*(?!make\b|nil\b)[\w&*(]", data)` finds, found from
    the colons (the regex engine scans for a literal `:` in C, but tries a leading `\b\w+`
    at every byte: 6x slower). As findall does, a key must start after the end of the
    previous match."""
    found = []
    consumed = 0
    for match in _SPELLED_KEY_COLON.finditer(data):
        end = start = match.start()
        while start > 0 and data[start - 1] in _WORD_BYTES:
            start -= 1
        if consumed <= start < end:
            found.append(data[start:end])
            consumed = match.end()
    return found


def _expression_end(data: bytes, start: int) -> int:
    """Where the expression after a `<-` or a `range` at ``start`` ends, at the latest: the
    end of its line, or a `;`, `:`, `{` or `//` before it."""
    end = data.find(b"\n", start)
    end = len(data) if end == -1 else end
    for stop in (b";", b":", b"{", b"//"):
        found = data.find(stop, start, end)
        if found != -1:
            end = found
    return end


@dataclass
class FieldSpellings:
    """The names the bytes of Go files spell operations on, as the last name of a
    selector (`x.f <- v` sends on `f`; what `<-` and `range` read counts every selector
    name in it: `<-c.Go(…).Done` receives from `Go` and `Done`), and the names they declare as channels the way
    a struct's fields are (`f, g chan T` starting a line, or after `{` or `;`). The
    operation sets hold every name the parse would find (and some in comments and
    strings); a field declared any other way (`struct{ x int; f chan T }` is found,
    `f chan T` after another field's type on one line is not) is missing from
    ``channels``, so a gate that needs a channel field there may say no where the parse
    says yes: it is asked only to skip work, never to report."""

    sent: set[bytes] = field(default_factory=set)
    closed: set[bytes] = field(default_factory=set)
    received: set[bytes] = field(default_factory=set)  # received from or ranged over
    channels: set[bytes] = field(default_factory=set)
    getters: set[bytes] = field(default_factory=set)  # methods with no parameters that return a channel
    blocking_sends: set[bytes] = field(default_factory=set)  # sent on outside a select case

    @classmethod
    def of(cls, data: bytes) -> "FieldSpellings":
        found = cls()
        for arrow in _SPELLED_ARROW.finditer(data):
            sent = _SPELLED_SENT_ON.search(data, max(0, arrow.start() - _SPELLED_LOOK_BACK), arrow.start())
            if sent is not None:
                found.sent.add(sent.group(1))
                line = data[data.rfind(b"\n", 0, arrow.start()) + 1 : arrow.start()].lstrip()
                if not line.startswith(b"case"):
                    found.blocking_sends.add(sent.group(1))
            found.received.update(_SPELLED_NAME.findall(data, arrow.end(), _expression_end(data, arrow.end())))
        for loop in _SPELLED_RANGE.finditer(data):
            if starts_name(data, loop.start()):
                found.received.update(_SPELLED_NAME.findall(data, loop.end(), _expression_end(data, loop.end())))
        for close in _SPELLED_CLOSE.finditer(data):
            closed = _SPELLED_CLOSED.match(data, close.end()) if starts_name(data, close.start()) else None
            if closed is not None:
                found.closed.add(closed.group(1))
        found.getters.update(_SPELLED_GETTER.findall(b"\n" + data))
        for match in _SPELLED_CHAN.finditer(data):
            if not starts_name(data, match.start()):
                continue
            line = data[data.rfind(b"\n", 0, match.start()) + 1 : match.start()]
            names = _SPELLED_FIELD_NAMES_BEFORE.search(line)
            if names is not None:
                found.channels.update(n.strip() for n in names.group(1).split(b","))
        return found

    @staticmethod
    def shared_in(data: bytes) -> set[bytes]:
        """The selector names ``data`` copies (`c := x.f`), hands to a call (`g(a, x.f)`, not
        `close(x.f)`) or sets from another value (`x.f = done`, `T{f: done}`): kept apart
        from ``of``, as these patterns cost more than the rest together, and a gate needs
        them only for the names the other sets leave."""
        return {*_SPELLED_COPIED.findall(data), *_SPELLED_HANDED.findall(data), *_SPELLED_SET.findall(data), *_keyed_names(data)}

    def only(self, name: bytes) -> "FieldSpellings":
        """These spellings of ``name`` alone."""
        keep = {name}
        return FieldSpellings(
            self.sent & keep, self.closed & keep, self.received & keep, self.channels & keep, self.getters & keep, self.blocking_sends & keep
        )

    def add(self, other: "FieldSpellings") -> None:
        self.sent |= other.sent
        self.closed |= other.closed
        self.received |= other.received
        self.channels |= other.channels
        self.getters |= other.getters
        self.blocking_sends |= other.blocking_sends


# A send on, or a receive from, a selector other than a context's Done(), a timer's C or
# time.After/Tick (which no field of the file's package is): `x.f <- v`, `<-x.f`.
SELECTOR_CHANNEL_OPERATION = re.compile(rb"\.\s*\w+\s*<-|<-\s*[\w.\[\]()]*\.(?!Done\(\)|C\b|After\(|Tick\()\w+")
# `x.f <- v`: a send on a selector (parenthesised too: `(x.f) <- v`).
SELECTOR_SEND = re.compile(rb"\.\s*\w+[\s)]*<-")
# `if !t.Stop() { <-t.C`: a timer drained after Stop (timers.stale_drains looks closer).
TIMER_DRAIN = re.compile(rb"if\s*!\s*[\w.]+\.Stop\(\)\s*\{\s*<-\s*[\w.]+\.C\b")
# `x.f.Wait()`: a Wait on a field.
FIELD_WAIT = re.compile(rb"\.\s*\w+\s*\.\s*Wait\(\)")

# A name, then `(` (an instantiation's `[…]` may come between, on one line).
_CALLED_NAME = re.compile(rb"(?<![A-Za-z0-9_\x80-\xff])(" + _NAME_PATTERN + rb")\s*(?:\[[^\]\n]*\]\s*)?\(")


def names_called(text: bytes) -> frozenset[bytes]:
    """Every name written just before a `(` in ``text`` (`f(`, `x.f (`, `f[int](`): the
    names a piece of code may call, read in one scan (a superset: conversions and
    declarations spell the same)."""
    return frozenset(_CALLED_NAME.findall(text))
