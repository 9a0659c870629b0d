"""The report opens with the scorecard and closes with the papers' claims, in HTML and in LaTeX (issue 15)."""

import re
import shutil
import subprocess

import pytest
from markupsafe import escape

from advrepro import claims, io, registry, report, scorecard
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


RUN_TIME = {"jobs": 3, "first_started": "2026-12-02T04:00:00+00:00", "last_finished": "2026-12-02T04:37:05+00:00",
            "span_s": 2225.0, "job_seconds": 4000.0, "slowest": [{"job": "models/tiny2024/a_b/provenance", "seconds": 900.0}]}


@pytest.fixture
def rendered(tmp_path):
    context = {"scale": "smoke", "limits": {"max_epochs": 1}, "papers": [paper_section()], "benchmarks": [],
               "tolerances": scorecard.legend(RULES), "excluded_data": RULES["data"], "git_commit": "abc",
               "generated": "now", "run_time": RUN_TIME}
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


def test_both_reports_give_the_run_time_and_the_slowest_jobs_on_the_first_page(rendered):
    html, tex = rendered
    assert html.index('id="run-time"') < html.index('id="scorecard"')
    assert "<strong>37 min 05 s</strong> wall time" in html and "models/tiny2024/a_b/provenance (15 min 00 s)" in html
    text = tex.read_text()
    assert text.index(r"\textbf{37 min 05 s} wall time") < text.index(r"\section{Scorecard}")
    assert r"\texttt{models/tiny2024/a\_b/provenance} (15 min 00 s)" in text


def _job_result(path, seconds, finished):
    io.write_json(path, {"provenance": {"wall_time_s": seconds, "finished": finished}})


def test_run_time_spans_the_jobs_behind_the_results_and_ranks_the_slowest(tmp_path):
    assert report.run_time(str(tmp_path)) is None
    _job_result(tmp_path / "models/p/a/provenance.json", 600.0, "2026-12-02T04:10:00+00:00")  # from 04:00
    _job_result(tmp_path / "models/p/a/first_stage/provenance.json", 60.0, "2026-12-02T03:59:00+00:00")
    _job_result(tmp_path / "evals/p/a/clean.json", 5.5, "2026-12-02T04:20:00+00:00")
    _job_result(tmp_path / "svm/p/3v7.json", 30.0, "2026-12-02T04:12:00+00:00")
    _job_result(tmp_path / "adversarial_sets/p/set.json", 1.0, "2026-12-02T04:13:00+00:00")
    io.write_json(tmp_path / "tables/p/t.json", {"provenance": {"wall_time_s": 9999.0, "finished": "2026-12-03T00:00:00+00:00"}})
    timing = report.run_time(str(tmp_path), slowest=2)
    assert timing["jobs"] == 5 and timing["span_s"] == 22 * 60 and timing["job_seconds"] == 696.5
    assert timing["first_started"] == "2026-12-02T03:58:00+00:00"
    assert timing["slowest"] == [{"job": "models/p/a/provenance", "seconds": 600.0},
                                 {"job": "models/p/a/first_stage/provenance", "seconds": 60.0}]
    assert [report.duration(s) for s in (42.4, 425, 3720)] == ["42 s", "7 min 05 s", "1 h 02 min"]


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
