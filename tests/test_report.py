"""The report opens with the scorecard and closes with the papers' claims, in HTML and in LaTeX (issue 15)."""

import re
import shutil
import subprocess

import pytest
from markupsafe import escape

from advrepro import claims, registry, report, scorecard
from conftest import REPO

RULES = scorecard.read_rules(REPO / registry.FIDELITY)


def number(table, row, status, ours=1.0, printed=2.0):
    return {"paper": "tiny", "table": table, "row": row, "row_label": f"Model {row}", "column": "test error",
            "kind": "mnist_error", "ours": ours, "paper_value": printed, "difference": ours - printed, "unit": "%",
            "tolerance": "±0.15 pp", "status": status,
            "reason": "smoke scale" if status == scorecard.NOT_COMPARABLE else ""}


def paper_section():
    numbers = [number("table1", "a", scorecard.OUTSIDE), number("table1", "b", scorecard.WITHIN, 2.0),
               number("table2", "c", scorecard.NOT_COMPARABLE)]
    verdicts = [{"paper": "tiny", "claim_id": "falls", "claim": "Table 1: error falls with λ", "source": "section 2",
                 "table": "table1", "check": "monotone", "status": status, "detail": f"detail of {status}"}
                for status in claims.VERDICTS]
    card = {"numbers": numbers, "claims": verdicts, "counts": scorecard.counts(numbers, scorecard.STATUSES),
            "claim_counts": scorecard.counts(verdicts, claims.VERDICTS)}
    return {"key": "tiny2024", "title": "A Tiny Paper", "authors": "Test Author", "year": 2024, "arxiv": "0000.00000",
            "tables": [], "figures": [], "notebook": None, "scorecard": card}


@pytest.fixture
def rendered(tmp_path):
    context = {"scale": "smoke", "limits": {"max_epochs": 1}, "papers": [paper_section()], "benchmarks": [],
               "tolerances": scorecard.legend(RULES), "excluded_data": RULES["data"], "git_commit": "abc",
               "generated": "now"}
    html, tex = tmp_path / "index.html", tmp_path / "report.tex"
    report.render(context, templates=str(REPO / "report"), html=str(html), tex=str(tex))
    return html.read_text(), tex


def test_the_html_report_opens_with_the_scorecard_and_links_each_number_outside(rendered):
    html, _ = rendered
    assert html.index('id="scorecard"') < html.index('id="tiny2024"') < html.index('id="claims"')
    scorecard_part = html[html.index('id="scorecard"'):html.index('id="tiny2024"')]
    assert '<a href="#tiny2024-table1">table1</a>, Model a [test error]' in scorecard_part  # the one outside
    assert "Model b [test error]" not in scorecard_part.split("Every printed number")[0]
    assert "1 within, 1 outside, 1 not comparable at this scale" in scorecard_part
    assert all(str(escape(t["reason"])) in html for t in scorecard.legend(RULES))  # every tolerance with its reason
    assert '<div class="scroll"><table class="comparison scorecard">' in scorecard_part  # wide tables scroll


def test_the_closing_note_lists_each_claim_with_its_status(rendered):
    html, _ = rendered
    note = html[html.index('id="claims"'):]
    for status in claims.VERDICTS:
        assert f">{status}</td><td>detail of {status}</td>" in note


def test_the_latex_report_has_the_same_scorecard_and_closing_note(rendered):
    _, tex = rendered
    text = tex.read_text()
    assert text.index(r"\section{Scorecard}") < text.index(r"\section{Closing note: the papers' claims}")
    assert r"\hyperref[tab:tiny2024-table1]{table1}, Model a [test error]" in text
    assert all(rf"\textbf{{{status}}}" in text for status in claims.VERDICTS)


@pytest.mark.skipif(not shutil.which("latexmk"), reason="latexmk is not installed")
def test_the_latex_report_compiles(rendered):
    _, tex = rendered
    result = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                            cwd=tex.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tex.parent / "report.pdf").read_bytes()[:5] == b"%PDF-"


# Characters pdfLaTeX's utf8 input encoding (with T1 fonts) already knows; every other non-ASCII character must be
# declared in report.tex.j2 (a label with an undeclared one stops the PDF: "Unicode character ... not set up").
UTF8_DEF_KNOWS = set("·²°–—éèüöäñ’“”")


def test_every_character_the_registries_and_builders_write_is_known_to_the_latex_report():
    """Registries (labels, titles, notes) and the builders (markers such as ✓ ✗ ⚠) reach the PDF as text."""
    template = (REPO / "report" / "report.tex.j2").read_text()
    declared = {chr(int(code, 16)) for code in re.findall(r"\\DeclareUnicodeCharacter\{([0-9A-F]+)\}", template)}
    sources = [*(REPO / "config").rglob("*.yaml"), *(REPO / "src" / "advrepro").rglob("*.py")]
    written = {char for path in sources for char in path.read_text() if ord(char) > 127}
    assert written - declared - UTF8_DEF_KNOWS == set()
