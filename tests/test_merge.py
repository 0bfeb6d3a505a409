"""The edit merger: no overlap is ever applied, order does not matter, identical edits coalesce."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gofix_defer.codemods.engine.merge import merge
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, apply_edits

DATA = b"0123456789abcdefghij"


def diag(rule: str, *edits: Edit, title: str = "fix") -> Diagnostic:
    return Diagnostic(rule=rule, start=edits[0].start, end=edits[-1].end, message="m", fix=Fix(title, edits, Applicability.SAFE))


edit_strategy = st.builds(
    lambda a, length, text: Edit(a, min(a + length, len(DATA)), text),
    st.integers(0, len(DATA)),
    st.integers(0, 4),
    st.sampled_from([b"", b"X", b"YY", b"\n"]),
)


@st.composite
def fix_strategy(draw):
    edits = draw(st.lists(edit_strategy, min_size=1, max_size=3))
    # A fix's own edits must not overlap: keep a non-overlapping subset.
    kept = []
    for edit in sorted(set(edits)):
        if not any(edit.overlaps(k) for k in kept):
            kept.append(edit)
    rule = draw(st.sampled_from(["a", "b", "c"]))
    return diag(rule, *kept)


@settings(max_examples=300, deadline=None)
@given(st.lists(fix_strategy(), max_size=6))
def test_accepted_edits_never_overlap(fixes):
    result = merge(fixes)
    for first, second in zip(result.edits, result.edits[1:]):
        assert not first.overlaps(second)
    apply_edits(DATA, result.edits)  # raises on overlap
    assert len(result.accepted) + len(result.rejected) == len(fixes)


@settings(max_examples=300, deadline=None)
@given(st.lists(fix_strategy(), max_size=6), st.randoms())
def test_result_does_not_depend_on_input_order(fixes, rnd):
    shuffled = list(fixes)
    rnd.shuffle(shuffled)
    assert apply_edits(DATA, merge(fixes).edits) == apply_edits(DATA, merge(shuffled).edits)


@settings(max_examples=200, deadline=None)
@given(fix_strategy())
def test_identical_fixes_coalesce(fix):
    twin = Diagnostic(rule="other", start=fix.start, end=fix.end, message="m", fix=fix.fix)
    result = merge([fix, twin])
    assert len(result.accepted) == 2
    assert apply_edits(DATA, result.edits) == apply_edits(DATA, fix.fix.edits)


def test_overlapping_fix_is_rejected_whole():
    first = diag("a", Edit(2, 5, b"X"))
    second = diag("b", Edit(0, 1, b"Y"), Edit(4, 6, b"Z"))
    result = merge([second, first])
    assert [d.rule for d in result.accepted] == ["b"]
    assert [d.rule for d in result.rejected] == ["a"]
    assert apply_edits(DATA, result.edits) == b"Y123Z6789abcdefghij"


def test_two_different_insertions_at_one_point_conflict():
    assert Edit.insert(3, b"a").overlaps(Edit.insert(3, b"b"))
    assert not Edit.insert(3, b"a").overlaps(Edit.insert(3, b"a"))
    assert not Edit.insert(3, b"a").overlaps(Edit(3, 5, b""))


def test_fix_rejects_self_overlap_and_empty_title():
    with pytest.raises(ValueError):
        Fix("t", (Edit(0, 3, b""), Edit(2, 4, b"")))
    with pytest.raises(ValueError):
        Fix("", (Edit(0, 1, b""),))
    with pytest.raises(TypeError):
        Edit(0, 1, "str")  # type: ignore[arg-type]


def _reference_merge(diagnostics):
    """The old quadratic merge, kept as the specification of the fast one."""
    fixes = [(d, d.fix) for d in diagnostics if d.fix is not None and d.fix.edits]
    fixes.sort(key=lambda pair: (pair[1].span, pair[0].rule, pair[1].title, pair[0].start, pair[0].end, pair[0].message, pair[1].edits))
    accepted, rejected, chosen, seen = [], [], [], set()
    for diagnostic, fix in fixes:
        if any(any(edit.overlaps(other) for other in chosen) for edit in fix.edits if edit not in seen):
            rejected.append(diagnostic)
            continue
        accepted.append(diagnostic)
        for edit in fix.edits:
            if edit not in seen:
                seen.add(edit)
                chosen.append(edit)
    return accepted, rejected, sorted(chosen)


wide_edit = st.builds(
    lambda a, length, text: Edit(a, a + length, text),
    st.integers(0, 40),
    st.sampled_from([0, 0, 1, 2, 5, 30]),
    st.sampled_from([b"", b"X", b"YY"]),
)


@st.composite
def wide_fix(draw):
    kept = []
    for edit in sorted(set(draw(st.lists(wide_edit, min_size=1, max_size=4)))):
        if not any(edit.overlaps(k) for k in kept):
            kept.append(edit)
    return diag(draw(st.sampled_from(["a", "b", "c"])), *kept, title=draw(st.sampled_from(["t", "u"])))


@settings(max_examples=600, deadline=None)
@given(st.lists(wide_fix(), max_size=12))
def test_fast_merge_decides_exactly_as_the_reference(fixes):
    result = merge(fixes)
    accepted, rejected, edits = _reference_merge(fixes)
    assert (result.accepted, result.rejected, result.edits) == (accepted, rejected, edits)


def test_merge_is_n_log_n_not_quadratic(monkeypatch):
    """8,000 edits took 7.2 s when each was checked against every earlier one."""
    calls = [0]
    real = Edit.overlaps

    def counting(self, other):
        calls[0] += 1
        return real(self, other)

    monkeypatch.setattr(Edit, "overlaps", counting)
    n = 4000
    # Many independent fixes, each also adding the same import at the top (coalesced),
    # and a long edit early on that reaches over none of them.
    fixes = [diag("r", Edit.insert(0, b"import"), Edit(100 + 10 * i, 105 + 10 * i, b"x"), title=f"fix {i}") for i in range(n)]
    fixes.append(diag("s", Edit(50, 99, b"y")))
    calls[0] = 0
    result = merge(fixes)
    assert len(result.accepted) == n + 1 and len(result.edits) == n + 2
    assert calls[0] < 10 * n, calls[0]  # the old merge made about n*n/2 = 8,000,000


# -- fixes that clash in meaning, not in text --------------------------------------


def test_one_fix_per_isolation_key_per_merge():
    from gofix_defer.codemods.model import Diagnostic, Edit, Fix

    first = Diagnostic("r", 0, 1, "a", Fix("A", (Edit.insert(0, b"x"),), isolation="declare:f"))
    second = Diagnostic("r", 5, 6, "b", Fix("B", (Edit.insert(5, b"y"),), isolation="declare:f"))
    third = Diagnostic("r", 9, 9, "c", Fix("C", (Edit.insert(9, b"z"),), isolation="declare:g"))
    merged = merge([second, third, first])
    assert [d.message for d in merged.accepted] == ["a", "c"] and [d.message for d in merged.rejected] == ["b"]


def test_two_fixes_that_would_declare_one_name_twice_in_a_block_are_not_applied_together():
    from gofix_defer.codemods.engine.process import Settings, process
    from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule

    source = b"package p\n\nfunc f(vs []int) {\n\tfor _, v := range vs {\n\t\tgo func() { println(v) }()\n\t\tgo func() { println(v) }()\n\t}\n}\n"

    class CopyEach(Rule):
        name = "test-copy-each"
        summary = "test rule: copies v before each go statement, as two independent findings"
        triggers = (b"go ",)

        def check(self, src):
            data = src.data
            position = data.find(b"\t\tgo func")
            while position >= 0:
                if b"v := v" in data:  # fixed already: a real rule would see the copy
                    return
                yield Diagnostic(self.name, position + 2, position + 4, "copy v", Fix("Copy v", (Edit.insert(position, b"\t\tv := v\n"),)))
                position = data.find(b"\t\tgo func", position + 1)

    result = process("x.go", source, Settings(rules=[CopyEach()], apply_fixes=True))
    assert result.fixed is not None and result.fixed.count(b"v := v") == 1  # the second would not compile
    assert not result.errors
    assert any("declared twice in one scope" in note for note in result.notes)
