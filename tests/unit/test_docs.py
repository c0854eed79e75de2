"""The behaviour contract in ``docs/semantics.md`` and the code that cites it stay in step.

The code, the tests and the benchmarks cite the contract as "rule N" (or "rules N-M", "rules
N, M", and tests as ``test_ruleNN_...``). These tests fail when a citation points at a rule the
document does not have, when a rule has no test citing it (unless it is listed in
:data:`UNTESTED`), or when a rule's "Tests:" line names a file that does not cite it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "semantics.md"

#: Rules that no test cites. Keep this list honest: a rule here needs a test, and the test
#: below fails as soon as one cites it (then remove it from this list).
UNTESTED: frozenset[int] = frozenset()

# "rule 7", "Rule 11", "rules 3-6", "rules 1, 8-11", "rules 12-14, 19", "rules 3 and 5"
_CITATION = re.compile(
    r"\brules?\s+(\d+(?:\s*(?:-|\u2013|,|and)\s*\d+)*)",
    re.IGNORECASE,
)
_TEST_NAME = re.compile(r"\btest_rule(\d+)_")
_HEADING = re.compile(r"^### (\d+)\. \S", re.MULTILINE)
_TESTS_LINE = re.compile(r"^\*\*Tests:\*\* (.+)$", re.MULTILINE)


def _numbers(text: str) -> tuple[set[int], set[int]]:
    """All rule numbers ``text`` cites, and those written out one by one (not only implied by
    a range such as "rules 12-19")."""
    cited: set[int] = set()
    explicit: set[int] = set()
    for m in _CITATION.finditer(text):
        for part in re.split(r"\s*(?:,|and)\s*", m.group(1)):
            ends = [int(x) for x in re.split(r"\s*[-\u2013]\s*", part)]
            if len(ends) == 1:
                explicit.add(ends[0])
                cited.add(ends[0])
            else:
                cited.update(range(ends[0], ends[-1] + 1))
    named = {int(n) for n in _TEST_NAME.findall(text)}
    return cited | named, explicit | named


def _sources(*folders: str) -> list[Path]:
    me = Path(__file__).resolve()
    return sorted(
        p
        for folder in folders
        for p in (ROOT / folder).rglob("*.py")
        if p.resolve() != me and "node_modules" not in p.parts
    )


def _sections() -> dict[int, str]:
    text = DOC.read_text(encoding="utf-8")
    heads = list(_HEADING.finditer(text))
    out: dict[int, str] = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        number = int(m.group(1))
        assert number not in out, f"docs/semantics.md has two sections numbered {number}"
        out[number] = text[m.start() : end]
    return out


def test_parser_reads_every_citation_form() -> None:
    cited, explicit = _numbers(
        "rule 7; Rule 11; rules 3-6; rules 1, 8-11; rules 12-14, 19; rules 3 and 5; "
        "def test_rule027_x(); rule of thumb"
    )
    assert cited == {1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 19, 27}
    assert explicit == {1, 3, 5, 7, 11, 19, 27}


def test_rules_are_numbered_one_to_n_without_gaps() -> None:
    numbers = sorted(_sections())
    assert numbers, "docs/semantics.md has no '### N. title' rule sections"
    assert numbers == list(range(1, len(numbers) + 1))


def test_every_cited_rule_has_a_section() -> None:
    rules = set(_sections())
    dangling = {}
    for path in _sources("nbrun", "tests", "bench"):
        cited, _ = _numbers(path.read_text(encoding="utf-8"))
        missing = sorted(cited - rules)
        if missing:
            dangling[str(path.relative_to(ROOT))] = missing
    assert not dangling, f"rules cited but not in docs/semantics.md: {dangling}"


def test_every_rule_is_cited_by_a_test_or_listed_as_untested() -> None:
    covered: set[int] = set()
    for path in _sources("tests"):
        covered |= _numbers(path.read_text(encoding="utf-8"))[1]
    rules = set(_sections())
    untested = rules - covered
    assert untested == set(UNTESTED), (
        f"rules no test cites: {sorted(untested)}; listed as untested: {sorted(UNTESTED)}"
    )


def test_each_rule_names_the_test_files_that_cite_it() -> None:
    problems = []
    for number, body in _sections().items():
        line = _TESTS_LINE.search(body)
        if line is None:
            problems.append(f"rule {number}: no '**Tests:**' line")
            continue
        files = re.findall(r"`(tests/[^`]+\.py)`", line.group(1))
        if number in UNTESTED:
            if files or "none" not in line.group(1):
                problems.append(f"rule {number} is untested: its Tests line must say none")
            continue
        if not files:
            problems.append(f"rule {number}: the Tests line names no test file")
        for name in files:
            path = ROOT / name
            if not path.is_file():
                problems.append(f"rule {number}: {name} does not exist")
            elif number not in _numbers(path.read_text(encoding="utf-8"))[1]:
                problems.append(f"rule {number}: {name} does not cite it")
    assert not problems, "\n".join(problems)


def test_readme_and_contributing_link_the_contract() -> None:
    for name in ("README.md", "CONTRIBUTING.md"):
        assert "docs/semantics.md" in (ROOT / name).read_text(encoding="utf-8"), name
