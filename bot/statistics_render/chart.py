"""A horizontal stacked bar chart as PNG bytes (matplotlib, Agg backend).

matplotlib is imported inside `bar_chart_png` only: importing it costs about a second and tens
of megabytes, which the bot's start and every other command must not pay
(tests/unit/test_statistics_render.py checks sys.modules in a fresh interpreter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# One colour per series, in order (colour-blind safe: Okabe-Ito).
COLOURS = ("#999999", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2")
MAX_LABEL = 38  # characters of a bar's label; longer names are cut with "…"


def bar_chart_png(
    categories: Sequence[str], series: Mapping[str, Sequence[int]], title: str
) -> bytes:
    """One bar per category (an agency, a kecamatan), made of one segment per series (the
    legend's labels, e.g. the states), each series as long as categories."""
    import io

    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit: renders to memory
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [c if len(c) <= MAX_LABEL else c[: MAX_LABEL - 1] + "…" for c in categories]
    height = max(3.0, 1.5 + 0.38 * len(labels))  # room for the title and the legend below
    # A Figure of its own, not pyplot: no global state, so charts drawn in worker threads for
    # two users at once do not meet.
    figure = Figure(figsize=(9, height), dpi=100, layout="constrained")
    axes = figure.subplots()
    left = [0] * len(labels)
    positions = list(range(len(labels)))
    for index, (name, values) in enumerate(series.items()):
        axes.barh(positions, values, left=left, label=name, color=COLOURS[index % len(COLOURS)])
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()  # the first category at the top, as listed in the message
    axes.set_title(title)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 ticks
    # Below the plot, never over a bar.
    figure.legend(loc="outside lower center", ncols=min(len(series), 6), fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
