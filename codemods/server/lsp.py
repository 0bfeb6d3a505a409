"""The language server (pygls): diagnostics, quick fixes and "fix all" for open Go files.

Each open file is checked as the command line checks it: the editor's text
(saved or not), the Go version of the nearest go.mod (raised by a
`//go:build go1.N` line), the file's package made of the other files of its
directory — their editor text when they are open, else what is on disk —
and the rules and settings that ``settings_for`` gives for the file's path.

Checks run one at a time on a worker thread, so the connection stays
responsive; a check of an old version of a file is never published. Edits
in the protocol are positions in the negotiated encoding (UTF-16 unless
the client offers UTF-8 or UTF-32), converted from the engine's byte
offsets by ``positions``. The whole text is synchronised on each change
(the incremental mode of pygls splits lines where the protocol does not).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence, TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gofix_defer.codemods import __version__
from gofix_defer.codemods.analysis import goversion
from gofix_defer.codemods.analysis.package import Package, go_files_in
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.engine.siblings import SiblingFiles
from gofix_defer.codemods.model import INTERNAL_ERROR, SYNTAX_ERROR, Applicability, Diagnostic, Edit, FileResult, Rule
from gofix_defer.codemods.server.actions import fixable, line_edits, quick_fixes
from gofix_defer.codemods.server.positions import UTF16, Positions

NAME = "gofix-defer"
FIX_ALL = f"{types.CodeActionKind.SourceFixAll.value}.{NAME}"
FIX_ALL_TITLE = "Fix all gofix-defer findings with safe fixes"
SAFE_ONLY = frozenset({Applicability.SAFE})
# Wait this long after a keystroke before checking, so typing is not checked letter by letter.
CHANGE_DELAY = 0.15

# The settings of one file (its rules, Go version override), by path; None
# for a file the configuration excludes; raises with a message for the user
# when its configuration is bad.
SettingsFor = Callable[[str], Optional[Settings]]
T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass
class Checked:
    """One file's findings, for one text and one state of its package."""

    key: tuple[str, int]  # (digest of the text, generation of its directory)
    version: int | None
    path: str
    data: bytes
    settings: Settings | None
    result: FileResult | None
    others: dict[str, bytes]  # the editor text of the package's other open files
    error: str | None = None
    fixed: bytes | None = None
    fixed_done: bool = False
    rules: dict[str, Rule] = field(default_factory=dict)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _encoding(value: object) -> str:
    text = getattr(value, "value", value)
    return text if text in ("utf-8", "utf-16", "utf-32") else UTF16


class GofixServer(LanguageServer):
    def __init__(self, settings_for: SettingsFor):
        super().__init__(NAME, __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.settings_for = settings_for
        self.engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gofix-defer-check")
        self.checked: dict[str, Checked] = {}
        self.generation: dict[str, int] = {}
        self.scheduled: dict[str, asyncio.Task] = {}
        self.told: set[str] = set()
        # The open documents by the URI the client spells (pygls keys its own
        # by the unquoted URI; diagnostics go back under the client's spelling).
        self.opened: dict[str, None] = {}

    # -- the open documents -------------------------------------------------------

    def document(self, uri: str) -> Any:
        return self.workspace.text_documents.get(unquote(uri)) if uri in self.opened else None

    def open_documents(self) -> dict[str, Any]:
        found = {uri: self.document(uri) for uri in self.opened}
        return {uri: document for uri, document in found.items() if document is not None}

    @staticmethod
    def is_file(uri: str) -> bool:
        return urlparse(uri).scheme == "file"

    @staticmethod
    def path_of(uri: str) -> str:
        path = to_fs_path(uri) if GofixServer.is_file(uri) else None
        # Normalised as a directory listing spells it, so the package sees one file, not two.
        return os.path.abspath(path) if path is not None else unquote(urlparse(uri).path) or uri

    def directory_of(self, uri: str) -> str:
        return os.path.dirname(self.path_of(uri)) if self.is_file(uri) else uri

    @property
    def encoding(self) -> str:
        return _encoding(self.workspace.position_encoding)

    def touched(self, uri: str) -> list[str]:
        """A file of ``uri``'s directory changed: the package facts of its other
        open files may have too. Returns those files."""
        directory = self.directory_of(uri)
        self.generation[directory] = self.generation.get(directory, 0) + 1
        return [other for other in self.open_documents() if other != uri and self.directory_of(other) == directory]

    # -- checking ---------------------------------------------------------------

    async def run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.engine, work)

    async def check(self, uri: str) -> Checked | None:
        """The findings of the open document ``uri`` as it is now."""
        document = self.document(uri)
        if document is None:
            return None
        data = document.source.encode("utf-8", "surrogatepass")
        key = (_digest(data), self.generation.get(self.directory_of(uri), 0))
        known = self.checked.get(uri)
        if known is not None and known.key == key:
            return known
        others: dict[str, bytes] = {}
        if self.is_file(uri):
            directory = self.directory_of(uri)
            for other, doc in self.open_documents().items():
                if other != uri and self.is_file(other) and self.directory_of(other) == directory:
                    others[self.path_of(other)] = doc.source.encode("utf-8", "surrogatepass")
        path = self.path_of(uri)
        checked = Checked(key, document.version, path, data, None, None, others)
        await self.run(lambda: self._check(checked, self.is_file(uri)))
        if self.document(uri) is not None:
            self.checked[uri] = checked
        return checked

    def _settings(self, checked: Checked, on_disk: bool) -> Settings | None:
        settings = self.settings_for(checked.path)
        if settings is not None and not on_disk and settings.go_version is None:
            # No go.mod governs an unsaved, unnamed file: current Go, as with no go.mod.
            settings = replace(settings, go_version=goversion.CURRENT_GO)
        return settings

    def _package(self, checked: Checked, settings: Settings, on_disk: bool) -> Package | None:
        if not on_disk:
            return None
        directory = os.path.dirname(checked.path)
        others = checked.others

        def read(path: str) -> bytes | None:
            data = others.get(path)  # an open editor's unsaved text comes first
            if data is None:
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    return None
            return data

        def lister() -> list[str]:
            return sorted(set(go_files_in(directory)) | {p for p in others if p.endswith(".go")})

        return SiblingFiles(read, settings.go_version).package(directory, checked.data, lister)

    def _check(self, checked: Checked, on_disk: bool) -> None:
        """On the worker thread: fill in ``checked``'s settings and findings."""
        # go.mod may have been edited since the last check; the lookup is a few stats.
        goversion._version_for_dir.cache_clear()
        try:
            settings = self._settings(checked, on_disk)
        except Exception as error:  # a configuration error is the user's to fix, not a crash
            checked.error = str(error) or type(error).__name__
            return
        if settings is None:
            return  # excluded by the configuration: nothing to report
        checked.settings = settings
        checked.rules = {rule.name: rule for rule in settings.rules}
        try:
            checked.result = process(checked.path, checked.data, replace(settings, apply_fixes=False), self._package(checked, settings, on_disk))
        except Exception as error:  # process() reports failures as data; anything else is a bug
            logger.exception("checking %s failed", checked.path)
            checked.error = f"internal error checking {checked.path}: {error}"

    def _fix_all(self, checked: Checked, on_disk: bool) -> None:
        """On the worker thread: the text after every safe fix, to a fixpoint.

        Unsafe fixes are never part of it, whatever the configuration says
        for --write: an editor may run "fix all" on every save."""
        if checked.fixed_done or checked.settings is None:
            return
        settings = replace(checked.settings, apply_fixes=True, unsafe_fixes=False)
        checked.fixed_done = True
        try:
            result = process(checked.path, checked.data, settings, self._package(checked, settings, on_disk))
        except Exception:  # process() reports failures as data; anything else is a bug: offer nothing
            logger.exception("fixing %s failed", checked.path)
            return
        checked.fixed = result.fixed if result.changed else None

    # -- publishing ---------------------------------------------------------------

    def schedule(self, uri: str, delay: float) -> None:
        pending = self.scheduled.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self.scheduled[uri] = asyncio.get_running_loop().create_task(self._publish_later(uri, delay))

    async def _publish_later(self, uri: str, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            await self.publish(uri)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one file's check take the server down
            logger.exception("publishing diagnostics for %s failed", uri)

    async def publish(self, uri: str) -> None:
        checked = await self.check(uri)
        document = self.document(uri)
        if checked is None or document is None or document.version != checked.version:
            return  # closed, or changed again: a newer check follows
        if checked.error is not None:
            self.tell(checked.error)
        for message in checked.result.errors if checked.result is not None else ():
            self.tell(message)  # e.g. a go.mod that cannot be read
        diagnostics = self.diagnostics(checked)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=checked.version))

    def tell(self, message: str) -> None:
        """Show a problem once (each distinct message), and log it every time."""
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=f"gofix-defer: {message}"))
        if message not in self.told:
            self.told.add(message)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"gofix-defer: {message}"))

    def diagnostics(self, checked: Checked) -> list[types.Diagnostic]:
        if checked.result is None:
            return []
        positions = Positions(checked.data, self.encoding)
        return [self.diagnostic(positions, d) for d in checked.result.found]

    @staticmethod
    def range(positions: Positions, start: int, end: int) -> types.Range:
        (line, character), (end_line, end_character) = positions.position(start), positions.position(end)
        return types.Range(types.Position(line, character), types.Position(end_line, end_character))

    def diagnostic(self, positions: Positions, diagnostic: Diagnostic) -> types.Diagnostic:
        severity = types.DiagnosticSeverity.Error if diagnostic.rule in (SYNTAX_ERROR, INTERNAL_ERROR) else types.DiagnosticSeverity.Warning
        return types.Diagnostic(
            range=self.range(positions, diagnostic.start, diagnostic.end),
            message=diagnostic.message,
            severity=severity,
            code=diagnostic.rule,
            source=NAME,
        )

    # -- code actions -------------------------------------------------------------

    def workspace_edit(self, uri: str, version: int | None, positions: Positions, edits: Sequence[Edit]) -> types.WorkspaceEdit:
        text_edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
            types.TextEdit(range=self.range(positions, e.start, e.end), new_text=e.text.decode("utf-8", "surrogatepass")) for e in edits
        ]
        if get_capability(self.client_capabilities, "workspace.workspace_edit.document_changes", False):
            identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
            return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=identifier, edits=text_edits)])
        return types.WorkspaceEdit(changes={uri: [e for e in text_edits if isinstance(e, types.TextEdit)]})

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        checked = await self.check(uri)
        if checked is None or checked.result is None or checked.settings is None:
            return []
        only = params.context.only
        positions = Positions(checked.data, self.encoding)
        actions: list[types.CodeAction] = []
        if _wanted(only, types.CodeActionKind.QuickFix.value):
            start = positions.offset(params.range.start.line, params.range.start.character)
            end = positions.offset(params.range.end.line, params.range.end.character)
            result, rules = checked.result, checked.rules
            offered = await self.run(lambda: quick_fixes(result, rules, start, end))
            for quick in offered:
                actions.append(
                    types.CodeAction(
                        title=quick.title,
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[self.diagnostic(positions, quick.diagnostic)],
                        is_preferred=True if quick.preferred else None,
                        edit=self.workspace_edit(uri, checked.version, positions, quick.edits),
                    )
                )
        if _wanted(only, FIX_ALL) and fixable(checked.result.found, SAFE_ONLY):
            on_disk = self.is_file(uri)
            await self.run(lambda: self._fix_all(checked, on_disk))
            if checked.fixed is not None:
                edits = line_edits(checked.data, checked.fixed)
                actions.append(types.CodeAction(title=FIX_ALL_TITLE, kind=FIX_ALL, edit=self.workspace_edit(uri, checked.version, positions, edits)))
        return actions


def _wanted(only: Sequence[str] | None, kind: str) -> bool:
    """Whether a client that asks for ``only`` these kinds wants ``kind`` (kinds are
    hierarchical: asking for `source.fixAll` includes `source.fixAll.gofix-defer`)."""
    if not only:
        return True
    return any(kind == str(getattr(o, "value", o)) or kind.startswith(str(getattr(o, "value", o)) + ".") for o in only)


def create_server(settings_for: SettingsFor) -> GofixServer:
    server = GofixServer(settings_for)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: GofixServer, params: types.DidOpenTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.opened[uri] = None
        ls.schedule(uri, 0)
        for other in ls.touched(uri):
            ls.schedule(other, CHANGE_DELAY)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: GofixServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.schedule(uri, CHANGE_DELAY)
        for other in ls.touched(uri):
            ls.schedule(other, CHANGE_DELAY)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: GofixServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        # Saving changes what is on disk, which other files' packages read.
        for other in ls.touched(uri):
            ls.schedule(other, 0)
        ls.checked.pop(uri, None)
        ls.schedule(uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: GofixServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.opened.pop(uri, None)
        pending = ls.scheduled.pop(uri, None)
        if pending is not None:
            pending.cancel()
        ls.checked.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        for other in ls.touched(uri):
            ls.schedule(other, CHANGE_DELAY)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=False),
    )
    async def code_action(ls: GofixServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        return await ls.code_actions(params) or None

    return server


def serve(settings_for: SettingsFor) -> None:
    """Speak the protocol on stdin/stdout until the client says exit."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="gofix-defer server: %(levelname)s %(message)s")
    server = create_server(settings_for)
    try:
        server.start_io()
    finally:
        server.engine.shutdown(wait=False, cancel_futures=True)
