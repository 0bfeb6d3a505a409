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
