"""The report's charts as Vega-Lite specs, built with Vega-Altair.

Each chart's data is inline and named after the chart, so the page (and its tests) can read
back exactly the numbers drawn (`view.data(name)`). A count the reader may not see exactly is
null in the data (nothing is drawn for it) and its range is in `label`.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from api.report.counts import Count
from api.report.data import Report

FONT = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", '
    '"Microsoft YaHei", "WenQuanYi Micro Hei", system-ui, sans-serif'
)
WIDTH = 520
Spec = dict[str, Any]


def charts(report: Report, words: dict[str, str]) -> dict[str, Spec]:
    """Every chart of the report by name (the name of its data too)."""
    found: dict[str, alt.TopLevelMixin | None] = {
        "persona_trend": _persona_trend(report, words),
        "persona_rfm": _persona_mix(report, "rfm_segment", words),
        "persona_value_segment": _persona_mix(report, "value_segment", words),
        "persona_scores": _persona_scores(report, words),
        "lifecycle": _distribution(report, "lifecycle", words),
        "value_segment": _distribution(report, "value_segment", words),
        "rfm_grid": _rfm_grid(report, words),
        "audience_sizes": _audience_sizes(report, words),
        "audience_overlap": _audience_overlap(report, words),
        "segment_performance": _performance(report, words),
        "drift": _drift(report, words),
    }
    return {
        name: chart.configure(font=FONT).to_dict(validate=False)
        for name, chart in found.items()
        if chart is not None
    }


def _data(name: str, rows: list[dict[str, Any]]) -> alt.InlineData:
    return alt.InlineData(values=rows, name=name)


def _count(count: Count) -> dict[str, Any]:
    return {"count": count.exact, "label": count.text}


def _persona_trend(report: Report, words: dict[str, str]) -> alt.Chart:
    rows = [
        {"persona": p.name, "run": point.run_id, **_count(point.size)}
        for p in report.personas
        for point in p.trend
    ]
    return (
        alt.Chart(_data("persona_trend", rows), width=WIDTH, title=words["trend"])
        .mark_line(point=True)
        .encode(
            x=alt.X("run:O", title=words["run_id"]),
            y=alt.Y("count:Q", title=words["size"]),
            color=alt.Color("persona:N", title=words["persona"]),
            tooltip=["persona:N", "run:O", "label:N"],
        )
    )


def _persona_mix(report: Report, key: str, words: dict[str, str]) -> alt.Chart:
    rows = [
        {"persona": p.name, "value": s.value, "share": s.share, **_count(s.count)}
        for p in report.personas
        for s in p.mixes.get(key, [])
    ]
    title = words["rfm_mix" if key == "rfm_segment" else "value_mix"]
    return (
        alt.Chart(_data(f"persona_{'rfm' if key == 'rfm_segment' else key}", rows), title=title)
        .mark_bar()
        .encode(
            y=alt.Y("persona:N", title=words["persona"], sort=[p.name for p in report.personas]),
            x=alt.X("share:Q", title=words["share"], axis=alt.Axis(format="%")),
            color=alt.Color("value:N", title=key),
            tooltip=["persona:N", "value:N", "label:N", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(width=WIDTH / 2 - 40)
    )


def _persona_scores(report: Report, words: dict[str, str]) -> alt.Chart:
    rows = [
        {"persona": p.name, "key": key, "bin": i / len(bins), **_count(count)}
        for p in report.personas
        for key, bins in p.scores.items()
        for i, count in enumerate(bins)
    ]
    return (
        alt.Chart(_data("persona_scores", rows), title=words["scores"])
        .mark_rect()
        .encode(
            x=alt.X("bin:O", title=words["score"], axis=alt.Axis(format=".1f")),
            y=alt.Y("persona:N", title=words["persona"], sort=[p.name for p in report.personas]),
            color=alt.Color("count:Q", title=words["persons"], scale=alt.Scale(scheme="blues")),
            column=alt.Column("key:N", title=None),
            tooltip=["persona:N", "key:N", "bin:O", "label:N"],
        )
        .properties(width=220)
    )


def _distribution(report: Report, key: str, words: dict[str, str]) -> alt.LayerChart:
    rows = [
        {"value": s.value, "share": s.share, "drawn": s.count.exact or 0, **_count(s.count)}
        for s in report.distributions[key]
    ]
    return _labelled_bars(_data(key, rows), "drawn", words["persons"], words[key])


def _labelled_bars(
    data: alt.InlineData, length: str, axis: str, title: str, *, percent: bool = False
) -> alt.LayerChart:
    """Bars with their count written beside them: a hidden count has a bar of length 0 (so
    that its row stays in the data) and its range as the label."""
    # The order given as a field, not "-x": the two layers would each derive their own.
    order = alt.EncodingSortField(field=length, op="sum", order="descending")
    base = alt.Chart(data, title=title, width=WIDTH / 2 - 60).encode(
        y=alt.Y("value:N", title=None, sort=order),
        x=alt.X(f"{length}:Q", title=axis, axis=alt.Axis(format="%" if percent else ",.0f")),
        tooltip=["value:N", "label:N"],
    )
    return base.mark_bar() + base.mark_text(align="left", dx=3, fontSize=11).encode(text="label:N")


def _rfm_grid(report: Report, words: dict[str, str]) -> alt.LayerChart:
    rows = [
        {"r": c.r, "f": c.f, "mean_monetary": c.mean_monetary, **_count(c.count)}
        for c in report.rfm
    ]
    base = alt.Chart(_data("rfm_grid", rows), width=300, height=300, title=words["rfm_grid"])
    cells = base.mark_rect().encode(
        x=alt.X("f:O", title="F"),
        y=alt.Y("r:O", title="R", sort="descending"),
        color=alt.Color(
            "mean_monetary:Q", title=words["mean_monetary"], scale=alt.Scale(scheme="goldgreen")
        ),
        tooltip=["r:O", "f:O", "label:N", alt.Tooltip("mean_monetary:Q", format=",.0f")],
    )
    return cells + base.mark_text(fontSize=11).encode(
        x="f:O", y=alt.Y("r:O", sort="descending"), text="label:N"
    )


def _audience_sizes(report: Report, words: dict[str, str]) -> alt.Chart | None:
    rows = [
        {"audience": a.name, "run": point.run_id, **_count(point.size)}
        for a in report.audiences.audiences
        for point in a.sizes
    ]
    if not rows:
        return None
    return (
        alt.Chart(_data("audience_sizes", rows), width=WIDTH, title=words["audience_sizes"])
        .mark_line(point=True)
        .encode(
            x=alt.X("run:O", title=words["run_id"]),
            y=alt.Y("count:Q", title=words["persons"]),
            color=alt.Color("audience:N", title=words["audience"]),
            tooltip=["audience:N", "run:O", "label:N"],
        )
    )


def _audience_overlap(report: Report, words: dict[str, str]) -> alt.LayerChart | None:
    rows = [{"a": c.a, "b": c.b, **_count(c.both)} for c in report.audiences.overlaps]
    if not rows:
        return None
    # A cell wide enough for a count such as "1,234" or a range such as "0–49".
    base = alt.Chart(_data("audience_overlap", rows), title=words["overlap"]).properties(
        width=alt.Step(64), height=alt.Step(26)
    )
    cells = base.mark_rect().encode(
        x=alt.X("b:N", title=None),
        y=alt.Y("a:N", title=None),
        color=alt.Color("count:Q", title=words["persons"], scale=alt.Scale(scheme="purples")),
        tooltip=["a:N", "b:N", "label:N"],
    )
    return cells + base.mark_text(fontSize=11).encode(x="b:N", y="a:N", text="label:N")


def _performance(report: Report, words: dict[str, str]) -> alt.LayerChart | None:
    performance = report.performance
    if not performance.values:
        return None
    rows = [
        {
            "value": v.value,
            "rate": v.rate,
            "drawn": v.rate or 0,
            "persons": v.persons.exact,
            "converted": v.converted.exact,
            "label": f"{v.converted.text} / {v.persons.text}",
        }
        for v in performance.values
    ]
    title = words["conversion"].format(days=performance.days, key=performance.key)
    return _labelled_bars(
        _data("segment_performance", rows), "drawn", words["rate"], title, percent=True
    )


def _drift(report: Report, words: dict[str, str]) -> alt.LayerChart | None:
    found = report.drift
    if found is None:
        return None
    rows = [{"key": k.key, "psi": k.psi, "flagged": k.flagged} for k in found.keys]
    title = words["drift"].format(previous=found.previous_run_id, threshold=found.threshold)
    bars = (
        alt.Chart(_data("drift", rows), width=WIDTH / 2 - 20, title=title)
        .mark_bar()
        .encode(
            y=alt.Y("key:N", title=None, sort="-x"),
            x=alt.X("psi:Q", title="PSI"),
            color=alt.Color("flagged:N", scale=alt.Scale(range=["#9ab", "#d62728"]), legend=None),
            tooltip=["key:N", alt.Tooltip("psi:Q", format=".3f")],
        )
    )
    rule = (
        alt.Chart(alt.InlineData(values=[{"threshold": found.threshold}]))
        .mark_rule(color="#d62728", strokeDash=[4, 3])
        .encode(x="threshold:Q")
    )
    return bars + rule
