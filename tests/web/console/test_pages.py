"""What the pages say and how they are built: accessibility (labels, headings, charts
with text), contrast, chart and graph geometry, and the pages' behaviour on bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from garrison.lineage import DatasetNode, LineageGraph, ModelVersionNode, RunNode
from garrison.testing import fixed_clock, sqlite_url
from garrison.web import create_web_app
from garrison.web.console.charts import contribution_chart, line_chart, nice_max
from garrison.web.console.lineage import layout
from tests.web.console.helpers import Console
from tests.web.console.seed import DECISION_ID, seed
from tests.web.helpers import make_installation

CSS = Path(__file__).parents[3] / "src/garrison/web/console/static/console.css"


@pytest.fixture(scope="module")
def seeded_root(tmp_path_factory) -> Iterator[Console]:
    """One seeded installation for the read-only tests of this module, signed in as root."""
    tmp = tmp_path_factory.mktemp("pages")
    inst = make_installation(tmp / "home", sqlite_url(tmp), fixed_clock())
    seed(inst, tmp / "seed")
    console = Console(create_web_app(inst.services))
    console.login(inst.keys["root"])
    yield console
    console.close()
    inst.services.close()


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.labels_for: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None], bool]] = []
        self.headings: list[str] = []
        self.svgs: list[dict[str, str | None]] = []
        self.svg_titles = 0
        self.html_lang: str | None = None
        self.buttons: list[str] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        inside_label = any(t == "label" for t, _ in self.stack)
        if tag == "html":
            self.html_lang = attributes.get("lang")
        if tag == "label" and attributes.get("for"):
            self.labels_for.add(str(attributes["for"]))
        if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
            self.controls.append((tag, attributes, inside_label))
        if tag in ("h1", "h2", "h3", "h4"):
            self.headings.append(tag)
        if tag == "svg":
            self.svgs.append(attributes)
        if tag == "title" and any(t == "svg" for t, _ in self.stack):
            self.svg_titles += 1
        if tag == "button":
            self._button = []
        if tag not in ("input", "meta", "link", "br", "line", "rect", "circle", "path",
                       "polyline", "img"):
            self.stack.append((tag, attributes))

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self._button is not None:
            self._button.append(data)


def _audit(html: str, path: str) -> None:
    page = _Page()
    page.feed(html)
    assert page.html_lang == "en", path
    assert page.headings.count("h1") == 1, path
    for tag, attributes, inside_label in page.controls:
        named = (inside_label or attributes.get("aria-label")
                 or attributes.get("id") in page.labels_for)
        assert named, f"{path}: unlabelled {tag} {attributes}"
    for svg in page.svgs:
        assert svg.get("role") in ("img", "group") and svg.get("aria-labelledby"), path
    assert page.svg_titles >= len(page.svgs), path
    assert all(page.buttons), f"{path}: a button without text"


def test_every_page_is_labelled_and_structured_for_assistive_technology(
        seeded_root, browser) -> None:
    _audit(browser.get("/console/login").text, "/console/login")
    for path in ("/console/approvals", "/console/models", "/console/models/fraud",
                 "/console/models/fraud/versions/2", "/console/models/fraud/rollback",
                 "/console/audit", f"/console/decisions?request_id={DECISION_ID}",
                 "/console/monitoring", "/console/lineage?model=fraud", "/console/accounts"):
        response = seeded_root.get(path)
        assert response.status_code == 200, path
        _audit(response.text, path)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    variables = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", CSS.read_text()))
    for name in ("ink", "muted", "accent", "ok", "bad", "warn"):
        assert _contrast(variables[name], variables["bg"]) >= 4.5, name
        assert _contrast(variables[name], variables["panel"]) >= 4.5, name
    assert _contrast(variables["accent-ink"], variables["accent"]) >= 4.5
    assert _contrast("#ffffff", "#13233a") >= 4.5  # The header.


def test_contribution_bars_grow_from_zero_by_sign_largest_first() -> None:
    chart = contribution_chart({"a": 0.2, "b": -0.6, "c": 0.05, "d": float("nan")})
    assert [b.label for b in chart.bars] == ["b", "a", "c"]
    b, a, _ = chart.bars
    assert not b.positive and b.x + b.width == pytest.approx(chart.zero_x)
    assert a.positive and a.x == chart.zero_x
    assert b.width == pytest.approx(a.width * 3, rel=0.01)
    assert [t.label for t in chart.ticks] == ["-1", "-0.5", "0", "0.5", "1"]
    only_positive = contribution_chart({"x": 3.0})
    assert [t.label for t in only_positive.ticks] == ["0", "2.5", "5"]
    many = contribution_chart({f"f{i}": float(i) for i in range(20)}, limit=15)
    assert len(many.bars) == 15 and many.hidden == 5


def test_line_charts_scale_to_a_round_maximum_and_mark_flagged_points() -> None:
    assert [nice_max(v) for v in (0, 0.7, 3, 12, 99, 101)] == [1, 1, 5, 20, 100, 200]
    chart = line_chart([("a", "s-a", [0, 5, None, 10])], ["t0", "t1", "t2", "t3"],
                       threshold=4, flags=[False, True, False, True])
    assert chart.y_ticks[-1].label == "10" and chart.threshold_y is not None
    assert chart.series[0].points.count(",") == 3  # The gap is skipped.
    assert [flag for _, _, flag in chart.series[0].markers] == [False, True, True]
    assert [t.anchor for t in chart.x_ticks] == ["start", "middle", "end"]


def test_the_lineage_graph_is_laid_out_left_to_right_in_the_direction_of_flow() -> None:
    import datetime as dt

    graph = LineageGraph()
    data = DatasetNode("transactions", "1", "sha256:" + "a" * 64, rows=10)
    run = RunNode("train-1", "abc1234", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    model = ModelVersionNode("fraud", "1", "b" * 64)
    graph.record_training(run, [data], [model])
    drawing = layout(graph)
    x = {n.kind: n.x for n in drawing.nodes}
    assert x["dataset"] < x["run"] < x["model-version"]
    assert len(drawing.edges) == 2
    [link] = [n for n in drawing.nodes if n.href]
    assert link.href == "/console/models/fraud/versions/1"


@pytest.mark.parametrize("path,status", [
    ("/console/audit?outcome=maybe", 400),
    ("/console/audit?since=yesterday", 400),
    ("/console/audit?before=-1", 400),
    ("/console/monitoring?range=forever", 400),
    ("/console/decisions?request_id=%3Cscript%3E", 400),
    ("/console/decisions?request_id=unknown-id", 404),
    ("/console/models/NOT_A_NAME", 400),
    ("/console/models/ghost", 404),
    ("/console/models/fraud/versions/x", 400),
    ("/console/lineage?model=..%2Fetc", 400),
])
def test_bad_input_gets_a_clear_page_never_a_traceback(seeded_root, path, status) -> None:
    response = seeded_root.get(path)
    assert response.status_code == status, response.text[:300]
    assert "Traceback" not in response.text and "<h1>" in response.text


def test_a_reason_is_required_and_the_rollback_must_be_confirmed(browser, inst,
                                                                 tmp_path) -> None:
    seed(inst, tmp_path / "seed")
    browser.login(inst.keys["bob"])
    browser.get("/console/approvals")
    no_reason = browser.post("/console/models/fraud/versions/2/approve", {"reason": "  "})
    assert no_reason.status_code == 400 and "write a reason" in no_reason.text
    unconfirmed = browser.post("/console/models/fraud/rollback", {"reason": "bad release"})
    assert unconfirmed.status_code == 400
    assert inst.services.registry.production("fraud").version == 1


def test_the_audit_trail_pages_back_and_forth(browser, inst, tmp_path) -> None:
    seed(inst, tmp_path / "seed")
    services = inst.services
    for n in range(120):
        services.guard.record("system", "view-model", resource=f"model:page:{n}")
    browser.login(inst.keys["dan"])
    first = browser.get("/console/audit").text
    seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)', first)]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    older = re.search(r'href="/console/audit\?before=(\d+)" rel="next"', first)
    assert older and int(older.group(1)) == seqs[-1]
    second = browser.get(f"/console/audit?before={older.group(1)}").text
    seqs2 = [int(s) for s in re.findall(r'<td class="num">(\d+)', second)]
    assert seqs2[0] == seqs[-1] - 1 and len(seqs2) == 50
    newer = re.search(r'href="/console/audit\?before=(\d+)" rel="prev"', second)
    assert newer and int(newer.group(1)) == seqs[0] + 1
    filtered = browser.get("/console/audit?actor=bob&outcome=ok").text
    assert "approve-model-version" in filtered and "create-principal" not in filtered


def test_the_export_is_a_download_of_the_filtered_events(browser, inst, tmp_path) -> None:
    seed(inst, tmp_path / "seed")
    browser.login(inst.keys["dan"])
    browser.get("/console/audit")
    response = browser.post("/console/audit/export", {"actor": "bob"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines and all('"actor": "bob"' in line or '"actor":"bob"' in line for line in lines)
