"""`gofix-defer server`, driven over stdio by a real LSP client (pytest-lsp).

Diagnostics on open, change and save; each fix as a quick fix (safe ones
preferred, unsafe ones saying why); "fix all" for the safe ones; positions
in UTF-16 by default and in UTF-8 when the client offers it; rule selection
on the command line; a file that does not parse; and the plain install,
which has no pygls, saying what to install.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Scopes
from gofix_defer.codemods.engine.process import Settings
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule
from gofix_defer.codemods.server.actions import FALLBACK_REASON, line_edits, unsafe_reason
from gofix_defer.codemods.server.positions import UTF8, UTF16, UTF32, Positions

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
_SCRIPT = Path(sys.executable).parent / ("gofix-defer.exe" if os.name == "nt" else "gofix-defer")
# The installed console script, as an editor starts it; else the same entry point.
SERVER = [str(_SCRIPT), "server"] if _SCRIPT.exists() else [sys.executable, "-c", "from gofix_defer.codemods.cli import main; main()", "server"]
TIMEOUT = 60.0

# One server per fixture for the whole module (starting one takes a second or two);
# every test opens files of its own.
ASYNC = pytest.mark.asyncio(loop_scope="module")


def _make_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every publishDiagnostics (with its version)."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)  # type: ignore[attr-defined]

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish})
    return client


UTF8_CAPABILITIES = types.ClientCapabilities(
    general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]),
    workspace=types.WorkspaceClientCapabilities(workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)),
)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, client_factory=_make_client), scope="module")
async def client(lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, client_factory=_make_client), scope="module")
async def utf8_client(lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(types.InitializeParams(capabilities=UTF8_CAPABILITIES))
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[*SERVER, "--ignore", "defer-lock-typo"], client_factory=_make_client), scope="module")
async def ignoring_client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[*SERVER, "--select", "loop-var-capture"], client_factory=_make_client), scope="module")
async def selecting_client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


# -- helpers: a client's side of the protocol, written independently of the server --


def copy_case(tmp_path: Path, case: str) -> Path:
    target = tmp_path / case.replace("/", "_")
    shutil.copytree(FIXTURES / case, target)
    return target


def uri_of(path: Path) -> str:
    return path.resolve().as_uri()


def open_file(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = uri_of(path)
    text = path.read_text(encoding="utf-8") if text is None else text
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="go", version=version, text=text)))
    return uri


def change_file(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def diagnostics_of(client: LanguageClient, uri: str, version: int | None = 1) -> list[types.Diagnostic]:
    """The diagnostics the server published for ``uri`` at ``version``."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        for params in reversed(client.published):  # type: ignore[attr-defined]
            if params.uri == uri and params.version == version:
                return list(params.diagnostics)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no diagnostics for {uri} version {version}: {client.published}")  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)


async def code_actions(client: LanguageClient, uri: str, where: types.Range, only: list[str] | None = None) -> list[types.CodeAction]:
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=where,
            context=types.CodeActionContext(diagnostics=[], only=only),
        )
    )
    actions = list(found or [])
    assert all(isinstance(a, types.CodeAction) for a in actions)
    return actions  # type: ignore[return-value]


def _lines(text: str) -> list[str]:
    """The text's lines without their breaks, split where LSP splits them."""
    return re.split(r"\r\n|\r|\n", text)


def _index(text: str, position: types.Position, encoding: str) -> int:
    """The str index of an LSP position."""
    lines = _lines(text)
    breaks = [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    start = 0 if position.line == 0 else breaks[position.line - 1]
    line = lines[position.line]
    if encoding == UTF8:
        prefix = line.encode("utf-8")[: position.character].decode("utf-8")
    else:
        prefix = line.encode("utf-16-le")[: 2 * position.character].decode("utf-16-le")
    assert line.startswith(prefix)
    return start + len(prefix)


def text_edits(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    edit = action.edit
    assert edit is not None
    if edit.document_changes:
        [change] = edit.document_changes
        assert isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri
        return list(change.edits)  # type: ignore[arg-type]
    assert edit.changes is not None and list(edit.changes) == [uri]
    return list(edit.changes[uri])


def apply(text: str, edits: list[types.TextEdit], encoding: str = UTF16) -> str:
    spans = sorted(((_index(text, e.range.start, encoding), _index(text, e.range.end, encoding), e.new_text) for e in edits), reverse=True)
    for (_, end, _), following in zip(spans[1:], spans):
        assert end <= following[0], "overlapping edits"
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


WHOLE = types.Range(types.Position(0, 0), types.Position(100000, 0))


# -- diagnostics and quick fixes ------------------------------------------------


@ASYNC
async def test_open_publishes_the_leak_and_its_quick_fix_gives_the_golden(client: LanguageClient, tmp_path):
    case = copy_case(tmp_path, "defer-lock-typo/stuck_counter")
    source = (case / "main.go").read_text()
    uri = open_file(client, case / "main.go")
    [diagnostic] = await diagnostics_of(client, uri)
    line = next(i for i, text in enumerate(_lines(source)) if "defer c.mu.Lock()" in text)
    assert diagnostic.code == "defer-lock-typo" and diagnostic.source == "gofix-defer"
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    assert diagnostic.range.start == types.Position(line, 1)  # after the tab
    assert "defer c.mu.Lock() right after c.mu.Lock()" in diagnostic.message

    # At a cursor inside the finding: its fix, preferred, as a quick fix.
    cursor = types.Range(types.Position(line, 10), types.Position(line, 10))
    [action] = await code_actions(client, uri, cursor, only=[types.CodeActionKind.QuickFix])
    assert action.kind == types.CodeActionKind.QuickFix and action.is_preferred is True
    assert "defer-lock-typo" in action.title and "unsafe" not in action.title
    assert [d.code for d in action.diagnostics or []] == ["defer-lock-typo"]
    assert apply(source, text_edits(action, uri)) == (case / "main.go.golden").read_text()

    # Elsewhere in the file: nothing to offer there.
    assert await code_actions(client, uri, types.Range(types.Position(0, 0), types.Position(0, 0)), only=[types.CodeActionKind.QuickFix]) == []


@ASYNC
async def test_a_path_the_uri_must_quote_is_checked_and_answered_under_the_clients_uri(client: LanguageClient, tmp_path):
    case = copy_case(tmp_path / "my project é", "defer-lock-typo/stuck_counter")
    uri = open_file(client, case / "main.go")
    assert "%20" in uri and "%C3%A9" in uri
    [diagnostic] = await diagnostics_of(client, uri)
    assert diagnostic.code == "defer-lock-typo"
    [action] = await code_actions(client, uri, diagnostic.range, only=[types.CodeActionKind.QuickFix])
    assert apply((case / "main.go").read_text(), text_edits(action, uri)) == (case / "main.go.golden").read_text()


@ASYNC
async def test_fix_all_applies_every_safe_fix_to_the_golden(client: LanguageClient, tmp_path):
    case = copy_case(tmp_path, "defer-lock-typo/typos")
    source = (case / "main.go").read_text()
    uri = open_file(client, case / "main.go")
    found = await diagnostics_of(client, uri)
    assert len(found) == 6 and {d.code for d in found} == {"defer-lock-typo"}

    [fix_all] = await code_actions(client, uri, WHOLE, only=[types.CodeActionKind.SourceFixAll])
    assert fix_all.kind == "source.fixAll.gofix-defer"
    assert apply(source, text_edits(fix_all, uri)) == (case / "main.go.golden").read_text()
    # Only the lines that change are sent, not the whole file.
    assert len(text_edits(fix_all, uri)) == 6

    # Asked for quick fixes only: one per finding in range, no "fix all"; asked
    # for everything: both.
    quick = await code_actions(client, uri, WHOLE, only=[types.CodeActionKind.QuickFix])
    assert len(quick) == 6 and {a.kind for a in quick} == {types.CodeActionKind.QuickFix}
    everything = await code_actions(client, uri, WHOLE)
    assert len(everything) == 7 and "source.fixAll.gofix-defer" in {a.kind for a in everything}
    # The server says which kinds it offers.
    provider = client.init_result.capabilities.code_action_provider  # type: ignore[attr-defined]
    assert isinstance(provider, types.CodeActionOptions)
    assert set(provider.code_action_kinds or []) == {types.CodeActionKind.QuickFix, "source.fixAll.gofix-defer"}


@ASYNC
async def test_unsafe_fix_is_labelled_with_its_reason_not_preferred_and_left_out_of_fix_all(client: LanguageClient, tmp_path):
    case = copy_case(tmp_path, "defer-in-loop/lock_per_account")
    source = (case / "main.go").read_text()
    uri = open_file(client, case / "main.go")
    [diagnostic] = await diagnostics_of(client, uri)
    assert diagnostic.code == "defer-in-loop"
    actions = await code_actions(client, uri, diagnostic.range)
    [action] = actions  # no "fix all": there is no safe fix
    assert action.kind == types.CodeActionKind.QuickFix and not action.is_preferred
    assert "unsafe fix" in action.title
    assert "the deferred calls now run at the end of each iteration instead of when the function returns" in action.title
    assert apply(source, text_edits(action, uri)) == (case / "main.go.golden").read_text()


@ASYNC
async def test_changing_the_document_updates_its_diagnostics(client: LanguageClient, tmp_path):
    case = copy_case(tmp_path, "defer-lock-typo/stuck_counter")
    source = (case / "main.go").read_text()
    golden = (case / "main.go.golden").read_text()
    uri = open_file(client, case / "main.go")
    assert len(await diagnostics_of(client, uri, 1)) == 1
    change_file(client, uri, golden, 2)
    assert await diagnostics_of(client, uri, 2) == []
    assert await code_actions(client, uri, WHOLE) == []
    # The bug typed again, twice more on one line, unsaved: the disk still holds the original.
    leaky = source.replace("\tc.n++\n", "\tc.n++\n}\n\nfunc (c *Counter) Dec() {\n\tc.mu.Lock()\n\tdefer c.mu.Lock()\n\tc.n--\n", 1)
    change_file(client, uri, leaky, 3)
    found = await diagnostics_of(client, uri, 3)
    assert [d.code for d in found] == ["defer-lock-typo", "defer-lock-typo"]
    assert found[1].range.start.line == next(i for i, text in enumerate(_lines(leaky)) if "c.n--" in text) - 1
    # Saved as it is: checked again, same findings.
    (case / "main.go").write_text(leaky)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await asyncio.sleep(0.5)
    assert [d.code for d in await diagnostics_of(client, uri, 3)] == ["defer-lock-typo", "defer-lock-typo"]
    # Closed: its diagnostics are cleared.
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert await diagnostics_of(client, uri, None) == []


@ASYNC
async def test_a_file_that_does_not_parse_gets_one_syntax_error_and_no_actions(client: LanguageClient, tmp_path):
    case = copy_case(tmp_path, "defer-lock-typo/stuck_counter")
    broken = (case / "main.go").read_text().replace("c.n++\n}", "c.n++\n", 1)
    uri = open_file(client, case / "main.go", broken)
    [diagnostic] = await diagnostics_of(client, uri)
    assert diagnostic.code == "syntax-error" and diagnostic.severity == types.DiagnosticSeverity.Error
    assert "cannot parse file" in diagnostic.message
    assert await code_actions(client, uri, WHOLE) == []


@ASYNC
async def test_the_go_version_comes_from_the_files_go_mod(client: LanguageClient, tmp_path):
    # loop-var-capture only matters before Go 1.22's per-iteration variables.
    old = copy_case(tmp_path, "loop-var-capture/goroutines_and_defers")
    new = copy_case(tmp_path / "new", "loop-var-capture/goroutines_and_defers")
    (new / "go.mod").write_text((new / "go.mod").read_text().replace("go 1.21", "go 1.22"))
    old_uri, new_uri = open_file(client, old / "main.go"), open_file(client, new / "main.go")
    assert "loop-var-capture" in {d.code for d in await diagnostics_of(client, old_uri)}
    assert await diagnostics_of(client, new_uri) == []
    # go.mod edited while the server runs: the next check sees it.
    (new / "go.mod").write_text((new / "go.mod").read_text().replace("go 1.22", "go 1.21"))
    change_file(client, new_uri, (new / "main.go").read_text() + "\n", 2)
    assert "loop-var-capture" in {d.code for d in await diagnostics_of(client, new_uri, 2)}


# -- positions: UTF-16 unless the client offers UTF-8 -----------------------------

WIDE = "\t/* ünï 𝄞 */ defer c.mu.Lock()"  # 2-byte, 2-byte, and a 4-byte (two UTF-16 units) character


def _wide_case(tmp_path: Path) -> tuple[Path, str, str]:
    case = copy_case(tmp_path, "defer-lock-typo/stuck_counter")
    text = (case / "main.go").read_text()
    golden = (case / "main.go.golden").read_text()
    text = re.sub(r"\tdefer c\.mu\.Lock\(\)", WIDE, text, count=1)
    golden = re.sub(r"\tdefer c\.mu\.Unlock\(\)", WIDE.replace("Lock", "Unlock"), golden, count=1)
    (case / "main.go").write_text(text, encoding="utf-8")
    return case, text, golden


@ASYNC
async def test_positions_are_utf16_code_units_by_default(client: LanguageClient, tmp_path):
    assert client.init_result.capabilities.position_encoding in (None, types.PositionEncodingKind.Utf16)  # type: ignore[attr-defined]
    case, text, golden = _wide_case(tmp_path)
    uri = open_file(client, case / "main.go")
    [diagnostic] = await diagnostics_of(client, uri)
    prefix = WIDE[: WIDE.index("defer")]
    assert diagnostic.range.start.character == len(prefix.encode("utf-16-le")) // 2 == len(prefix) + 1
    [action] = await code_actions(client, uri, diagnostic.range, only=[types.CodeActionKind.QuickFix])
    assert apply(text, text_edits(action, uri), UTF16) == golden


@ASYNC
async def test_positions_are_utf8_bytes_when_the_client_offers_utf8(utf8_client: LanguageClient, tmp_path):
    client = utf8_client
    assert client.init_result.capabilities.position_encoding == types.PositionEncodingKind.Utf8  # type: ignore[attr-defined]
    case, text, golden = _wide_case(tmp_path)
    uri = open_file(client, case / "main.go")
    [diagnostic] = await diagnostics_of(client, uri)
    prefix = WIDE[: WIDE.index("defer")]
    assert diagnostic.range.start.character == len(prefix.encode("utf-8"))
    [action] = await code_actions(client, uri, diagnostic.range, only=[types.CodeActionKind.QuickFix])
    # This client takes versioned document changes.
    assert action.edit is not None and action.edit.document_changes
    change = action.edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 1
    assert apply(text, text_edits(action, uri), UTF8) == golden
    [fix_all] = await code_actions(client, uri, WHOLE, only=["source.fixAll"])
    assert apply(text, text_edits(fix_all, uri), UTF8) == golden


# -- rule selection on the command line -------------------------------------------


@ASYNC
async def test_ignore_on_the_command_line_drops_the_rule(ignoring_client: LanguageClient, tmp_path):
    case = copy_case(tmp_path, "defer-lock-typo/stuck_counter")
    uri = open_file(ignoring_client, case / "main.go")
    assert await diagnostics_of(ignoring_client, uri) == []
    assert await code_actions(ignoring_client, uri, WHOLE) == []


@ASYNC
async def test_select_on_the_command_line_keeps_only_the_rule(selecting_client: LanguageClient, tmp_path):
    typo = copy_case(tmp_path, "defer-lock-typo/stuck_counter")
    loops = copy_case(tmp_path, "loop-var-capture/goroutines_and_defers")
    assert await diagnostics_of(selecting_client, open_file(selecting_client, typo / "main.go")) == []
    found = await diagnostics_of(selecting_client, open_file(selecting_client, loops / "main.go"))
    assert found and {d.code for d in found} == {"loop-var-capture"}


@ASYNC
async def test_the_nearest_configuration_file_chooses_the_rules_and_is_read_again(client: LanguageClient, tmp_path):
    case = copy_case(tmp_path, "defer-lock-typo/stuck_counter")
    text = (case / "main.go").read_text()
    config = tmp_path / "gofix-defer.toml"
    config.write_text('ignore = ["defer-lock-typo"]\n')
    uri = open_file(client, case / "main.go")
    assert await diagnostics_of(client, uri, 1) == []
    # Edited while the server runs: the next check reads it again.
    config.write_text('select = ["defer-lock-typo"]\n')
    change_file(client, uri, text, 2)
    assert [d.code for d in await diagnostics_of(client, uri, 2)] == ["defer-lock-typo"]
    config.write_text('exclude = ["main.go"]\n')
    change_file(client, uri, text, 3)
    assert await diagnostics_of(client, uri, 3) == []
    assert await code_actions(client, uri, WHOLE) == []
    # A bad configuration is shown to the user; the file gets no diagnostics.
    config.write_text('selct = ["defer-lock-typo"]\n')
    change_file(client, uri, text, 4)
    assert await diagnostics_of(client, uri, 4) == []
    [shown] = [m for m in client.messages if "selct" in m.message]
    assert shown.type == types.MessageType.Error and "gofix-defer.toml:1" in shown.message and "unknown key" in shown.message
    config.unlink()
    change_file(client, uri, text, 5)
    assert [d.code for d in await diagnostics_of(client, uri, 5)] == ["defer-lock-typo"]


def test_config_and_isolated_choose_which_file_applies(tmp_path):
    from gofix_defer.codemods.cli.server import file_settings

    (tmp_path / "gofix-defer.toml").write_text('select = ["defer-lock-typo"]\n')
    other = tmp_path / "other.toml"
    other.write_text('select = ["loop-var-capture"]\nunsafe-fixes = true\ngo-version = "1.21"\n')
    path = str(tmp_path / "main.go")

    def names(settings) -> list[str]:
        return [rule.name for rule in settings.rules]

    assert names(file_settings(None, [], None, False)(path)) == ["defer-lock-typo"]
    explicit = file_settings(None, [], str(other), False)(path)
    assert names(explicit) == ["loop-var-capture"] and explicit.unsafe_fixes and explicit.go_version == (1, 21)
    assert len(names(file_settings(None, [], None, True)(path))) > 2  # --isolated: every rule
    assert names(file_settings(["loop-var-capture", "defer-in-loop"], ["defer-in-loop"], None, False)(path)) == ["loop-var-capture"]
    with pytest.raises(ValueError, match="--config and --isolated"):
        file_settings(None, [], str(other), True)


def test_a_bad_config_on_the_command_line_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("tests = 3\n")
    done = subprocess.run([*SERVER, "--config", str(bad)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 2 and "bad.toml:1: key 'tests'" in done.stderr and done.stdout == ""


def test_unknown_rule_on_the_command_line_is_a_usage_error():
    done = subprocess.run([*SERVER, "--select", "no-such-rule"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 2
    assert "unknown rule(s): no-such-rule" in done.stderr
    assert done.stdout == ""  # stdout is the protocol's


# -- the plain install: no pygls ----------------------------------------------------

_WITHOUT_PYGLS = textwrap.dedent(
    """
    import sys
    sys.modules["pygls"] = None  # as if the server extra were not installed
    sys.modules["lsprotocol"] = None
    import gofix_defer.codemods.cli as cli
    assert not [m for m in sys.modules if m.startswith(("pygls.", "lsprotocol."))]
    sys.argv = ["gofix-defer", *sys.argv[1:]]
    cli.main()
    """
)


def test_without_the_server_extra_it_says_what_to_install(tmp_path):
    done = subprocess.run([sys.executable, "-c", _WITHOUT_PYGLS, "server"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "pip install 'gofix-defer[server]'" in done.stderr
    # The rest of the command line works without it.
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    checked = subprocess.run([sys.executable, "-c", _WITHOUT_PYGLS, "--no-cache", "main.go"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert checked.returncode == 0, checked.stderr


# -- the pieces, without a client ---------------------------------------------------


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_positions_round_trip_and_split_lines_where_lsp_does(encoding):
    # Form feed, U+2028 and NEL are no line breaks in LSP (Python's splitlines says they are).
    text = "a\r\nb\x0c\u2028c\rd𝄞é\ne\x85f\n"
    data = text.encode("utf-8")
    positions = Positions(data, encoding)
    lines = re.split(r"\r\n|\r|\n", text)
    assert len(positions.starts) == len(lines)
    for offset in range(len(data) + 1):
        try:
            data[:offset].decode("utf-8")
        except UnicodeDecodeError:
            continue  # inside a character
        line, character = positions.position(offset)
        assert positions.offset(line, character) == offset or data[offset - 1 : offset + 1] == b"\r\n"
    d = data.index("d".encode())
    after = data.index("é".encode()) + len("é".encode())
    widths = {UTF8: 4 + 2, UTF16: 2 + 1, UTF32: 1 + 1}
    assert positions.position(after) == (2, 1 + widths[encoding])
    assert positions.offset(2, 1 + widths[encoding]) == after
    assert positions.position(d) == (2, 0)
    assert positions.offset(2, 10_000) == data.index(b"\ne")  # past the end of a line: its end
    assert positions.offset(99, 0) == len(data)  # past the last line: the end


def test_line_edits_change_only_the_lines_that_differ():
    original = b"package p\n\nfunc a() {\n\tx()\n}\n\nfunc b() {\n\ty()\n}"
    fixed = original.replace(b"\tx()\n", b"\tx2()\n\tz()\n").replace(b"\ty()\n}", b"\ty2()\n}\n")
    edits = line_edits(original, fixed)
    assert len(edits) == 2
    out, position = [], 0
    for edit in edits:
        out += [original[position : edit.start], edit.text]
        position = edit.end
    assert b"".join(out) + original[position:] == fixed


def test_the_unsafe_reason_comes_from_the_finding_else_from_the_rules_fix_safety():
    class Unsafe(Rule):
        """Example.

        ## Fix safety
        Safe when nothing else waits. Unsafe when a caller
        waits on `done`: it now returns early — that is the point.
        """

        name = "example-unsafe"

    fix = Fix("Do it", (Edit(0, 0, b"x"),), Applicability.UNSAFE)
    plain = Diagnostic("example-unsafe", 0, 0, "leaks", fix)
    assert unsafe_reason(plain, Unsafe()) == "when a caller waits on done: it now returns early"
    own = Diagnostic("example-unsafe", 0, 0, "leaks; defer w.Stop() (unsafe: the queue (buffered) is dropped)", fix)
    assert unsafe_reason(own, Unsafe()) == "the queue (buffered) is dropped"
    assert unsafe_reason(plain, None) == FALLBACK_REASON


class _ClosedByCallee(Rule):
    """Reports `f(ch)` calls whose callee, somewhere in the package, closes that argument."""

    name = "test-closed-by-callee"
    summary = "test rule reading call summaries"
    triggers = (b"(",)
    requires = (CallSummaries, Scopes)

    def check(self, source):
        calls = source.facts(CallSummaries)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            scopes = source.scopes(function)
            for node in syntax.walk(function):
                if syntax.is_call(node):
                    effects = calls.callee_effects(source, scopes, node, 0)
                    if effects is not None and effects.closes:
                        yield self.diagnostic(node, "the callee closes it")


def test_the_package_of_an_open_file_reads_the_editor_text_of_its_other_open_files(tmp_path):
    from gofix_defer.codemods.server.lsp import Checked, GofixServer

    (tmp_path / "go.mod").write_text("module example.com/m\n\ngo 1.21\n")
    a = tmp_path / "a.go"
    a.write_text("package p\n\nfunc caller(ch chan int) { finish(ch) }\n")
    (tmp_path / "b.go").write_text("package p\n\nfunc finish(ch chan int) { close(ch) }\n")
    server = GofixServer(lambda path: Settings(rules=[_ClosedByCallee()]))

    def findings(others: dict[str, bytes]) -> int:
        checked = Checked(("", 0), 1, str(a), a.read_bytes(), None, None, others)
        server._check(checked, on_disk=True)
        assert checked.error is None and checked.result is not None
        return len(checked.result.found)

    assert findings({}) == 1  # b.go from disk
    unsaved = {str(tmp_path / "b.go"): b"package p\n\nfunc finish(ch chan int) { ch <- 1 }\n"}
    assert findings(unsaved) == 0  # b.go as the editor holds it
    new_file = {str(tmp_path / "c.go"): b"package p\n\nfunc finish2(ch chan int) { close(ch) }\n"}
    a.write_text("package p\n\nfunc caller(ch chan int) { finish2(ch) }\n")
    assert findings(new_file) == 1  # a file open in the editor and never saved
    server.engine.shutdown()


def test_the_editor_leaves_generated_files_out_of_the_package_as_the_command_line_does(tmp_path):
    # The same file must get the same findings in the editor and on the command line.
    from gofix_defer.codemods.run import workers
    from gofix_defer.codemods.server.lsp import Checked, GofixServer

    (tmp_path / "go.mod").write_text("module example.com/m\n\ngo 1.21\n")
    a = tmp_path / "a.go"
    a.write_text("package p\n\nfunc caller(ch chan int) { finish(ch) }\n")
    generated = b"// Code generated by stringer; DO NOT EDIT.\n\npackage p\n\nfunc finish(ch chan int) { close(ch) }\n"
    (tmp_path / "b.go").write_bytes(generated)
    settings = Settings(rules=[_ClosedByCallee()])
    server = GofixServer(lambda path: settings)
    try:
        for others in ({}, {str(tmp_path / "b.go"): generated}):  # on disk, then unsaved in the editor
            checked = Checked(("", 0), 1, str(a), a.read_bytes(), None, None, others)
            server._check(checked, on_disk=True)
            assert checked.error is None and checked.result is not None
            assert len(checked.result.found) == 0
    finally:
        server.engine.shutdown()
    [command_line] = workers.run([str(a)], settings)
    assert len(command_line.diagnostics) == 0
    (tmp_path / "b.go").write_bytes(generated.split(b"\n\n", 1)[1])  # no longer generated: both see the close
    [command_line] = workers.run([str(a)], settings)
    assert len(command_line.diagnostics) == 1
