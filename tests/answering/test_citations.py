from app.answering.citations import check_citations, drop_citations, find_citations, strip_citations
from app.answering.prompting import ContextBlock
from tests.answering.factories import hit


def test_find_citations_handles_groups_ranges_and_links():
    text = "A [1]. B [2, 3][3]. C [4-6]. See [docs](http://x) and [7](http://y). Year [2024"
    assert find_citations(text) == [1, 2, 3, 4, 5, 6]


def test_absurd_range_is_not_expanded():
    assert find_citations("[1-999]") == [1]


def test_check_splits_valid_and_invalid():
    blocks = [ContextBlock(1, hit("a")), ContextBlock(2, hit("b", rank=2))]
    check = check_citations("x [1] y [7] z [2][1]", blocks)
    assert list(check.valid) == [1, 2]
    assert check.valid[2] is blocks[1].hit
    assert check.invalid == [7]
    assert check.total == 3


def test_drop_removes_only_invalid_numbers():
    assert drop_citations("Fact [7]. Other [1, 7] end [2].", [7]) == "Fact. Other [1] end [2]."
    assert drop_citations("Unchanged [9]", []) == "Unchanged [9]"


def test_strip_citations_leaves_words():
    assert strip_citations("Thirty days [1][2]. Then[3] more") == "Thirty days. Then more"
