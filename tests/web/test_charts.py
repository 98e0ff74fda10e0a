"""The SVG charts are pure functions: check their shape, their labels and their escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from forecast.web import charts

T0 = datetime(2027, 1, 1, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def test_history_chart_has_one_line_per_outcome_axes_and_end_labels():
    points = [(T0, [0.5, 0.5]), (T0 + timedelta(days=2), [0.7, 0.3])]
    svg = parse(
        charts.history_chart(
            ["YES", "NO"], points, end=T0 + timedelta(days=4), title="Rain?", end_label="now"
        )
    )
    paths = svg.findall(f"{SVG}path")
    assert len(paths) == 2
    # step line: starts at 50%, holds, then steps to 70% and runs on to the end
    assert "V" in paths[0].get("d") and paths[0].get("stroke") != paths[1].get("stroke")
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"0%", "25%", "50%", "75%", "100%", "Time (UTC)", "now"} <= set(texts)
    assert "YES 70%" in texts and "NO 30%" in texts
    assert svg.find(f"{SVG}title").text == "Rain?"
    assert "YES 70% now (opened at 50%)" in svg.find(f"{SVG}desc").text
    assert svg.get("role") == "img"


def test_labels_and_titles_are_escaped():
    evil = '<script>alert("x")</script>&'
    markup = str(charts.history_chart([evil, "NO"], [(T0, [0.5, 0.5])], end=T0, title=evil))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    parse(markup)  # still well-formed XML
    spark = str(charts.sparkline([0.2, 0.4], label=evil))
    assert "<script>" not in spark and 'aria-label="&lt;script&gt;alert(&#34;x&#34;)' in spark
    parse(spark)


def test_many_trades_are_sampled_and_the_last_one_kept():
    points = [(T0 + timedelta(minutes=k), [k / 2000, 1 - k / 2000]) for k in range(1000)]
    svg = parse(charts.history_chart(["A", "B"], points, end=points[-1][0], title="t"))
    d = svg.findall(f"{SVG}path")[0].get("d")
    assert d.count("V") <= charts.MAX_POINTS
    assert "A 50%" in [t.text for t in svg.iter(f"{SVG}text")]  # 999/2000, the last point


def test_a_line_steps_only_where_its_probability_moved_on_the_chart():
    # Many tiny trades: the line holds at one height on the chart, then moves once.
    tiny = [(T0 + timedelta(minutes=k), [0.5 + k * 1e-7, 0.5 - k * 1e-7]) for k in range(100)]
    points = [*tiny, (T0 + timedelta(minutes=100), [0.8, 0.2])]
    svg = parse(charts.history_chart(["A", "B"], points, end=points[-1][0], title="t"))
    for path in svg.findall(f"{SVG}path"):
        d = path.get("d")
        assert d.count("V") == 1 and d.startswith("M44.0,")  # one step, at the last trade
        steps = re.findall(r"H([0-9.]+)V([0-9.]+)", d)
        assert steps[0][0] == f"{float(d.split('H')[-1]):.1f}"  # at the end: the last trade's time
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "A 80%" in texts and "B 20%" in texts


def test_a_brand_new_question_has_a_flat_chart_without_repeated_ticks():
    svg = parse(
        charts.history_chart(["YES", "NO"], [(T0, [0.1, 0.9])], end=T0, title="t", end_label="now")
    )
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert ticks.count("now") == 1 and len(ticks) == len(set(ticks))


def test_nothing_to_draw_is_empty_markup():
    assert str(charts.history_chart([], [], end=T0, title="t")) == ""
    assert str(charts.history_chart(["A"], [], end=T0, title="t")) == ""


def test_twenty_outcomes_get_distinct_line_styles():
    labels = [f"Outcome number {k}" for k in range(20)]
    svg = parse(charts.history_chart(labels, [(T0, [1 / 20] * 20)], end=T0, title="t"))
    styles = {(p.get("stroke"), p.get("stroke-dasharray")) for p in svg.findall(f"{SVG}path")}
    assert len(styles) == 20
    texts = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "end-label"]
    assert all(len(t) <= 22 for t in texts)  # long labels are shortened with an ellipsis


@given(st.lists(st.floats(min_value=0, max_value=300), min_size=1, max_size=40))
def test_end_labels_never_overlap_and_stay_in_the_chart(ys):
    top, bottom = 10.0, 250.0
    placed = charts._spread(ys, top, bottom)
    gap = charts.LABEL_GAP if len(ys) < 2 else min(charts.LABEL_GAP, (bottom - top) / (len(ys) - 1))
    order = sorted(placed)
    assert all(b - a >= gap - 1e-6 for a, b in zip(order, order[1:], strict=False))
    assert all(top - 1e-6 <= y <= bottom + 1e-6 for y in placed)
    # the labels keep the lines' order
    by_line = sorted(range(len(ys)), key=lambda k: (ys[k], k))
    assert [placed[k] for k in by_line] == sorted(placed) or len(set(ys)) < len(ys)


def test_sparkline_bar_and_swatch():
    spark = parse(charts.sparkline([0.1, 0.5, 0.9], label="YES over time"))
    pts = spark.find(f"{SVG}polyline").get("points").split()
    assert len(pts) == 3
    ys = [float(p.split(",")[1]) for p in pts]
    assert ys[0] > ys[1] > ys[2]  # higher probability is higher on the screen
    assert parse(charts.sparkline([0.3], label="one point")).find(f"{SVG}polyline") is not None
    bar = parse(charts.bar(0.25, 1))
    assert bar.get("aria-hidden") == "true"
    assert bar.findall(f"{SVG}rect")[1].get("width") == "25.00"
    assert parse(charts.bar(7.0)).findall(f"{SVG}rect")[1].get("width") == "100.00"
    assert re.search(r'fill="#[0-9a-f]{6}"', str(charts.swatch(3)))


def test_pct():
    assert charts.pct(0.5) == "50%"
    assert charts.pct(0.004) == "0.4%"
    assert charts.pct(0.9961) == "99.6%"
