"""W1 latency (p50 and p99) against the number of readers, per server, as a PNG drawn with Pillow.

Usage: python bench/plot.py bench/results/<file>.json [out.png]
"""

import itertools
import json
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLORS = [
    (214, 39, 40),
    (31, 119, 180),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (127, 127, 127),
    (23, 190, 207),
    (188, 189, 34),
    (227, 119, 194),
]
WIDTH, HEIGHT = 960, 600
LEFT, RIGHT, TOP, BOTTOM = 80, 300, 50, 70


def w1_plot(results: dict, out: Path) -> Path:
    series = []
    for server in results["servers"]:
        rows = server.get("w1")
        if isinstance(rows, list) and rows:
            series.append((server["name"], rows))
    readers = sorted({row["readers"] for _, rows in series for row in rows})
    values = [
        row[key] for _, rows in series for row in rows for key in ("p50_ms", "p99_ms") if row[key]
    ]
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text(
        (LEFT, 15), "W1 fan-out: keystroke-to-peer latency vs readers", fill="black", font=font
    )
    if not values or not readers:
        draw.text((LEFT, TOP + 20), "no W1 data", fill="black", font=font)
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out)
        return out
    low = 10 ** math.floor(math.log10(max(min(values), 0.01)))
    high = 10 ** math.ceil(math.log10(max(values)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(n: int) -> float:
        index = readers.index(n)
        return LEFT + (index + 0.5) * plot_w / len(readers)

    def y_of(ms: float) -> float:
        share = (math.log10(ms) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return TOP + plot_h * (1 - share)

    draw.rectangle([LEFT, TOP, LEFT + plot_w, TOP + plot_h], outline="black")
    decade = low
    while decade <= high * 1.001:
        y = y_of(decade)
        draw.line([LEFT, y, LEFT + plot_w, y], fill=(220, 220, 220))
        draw.text((10, y - 6), f"{decade:g} ms", fill="black", font=font)
        decade *= 10
    for n in readers:
        draw.text((x_of(n) - 8, TOP + plot_h + 8), str(n), fill="black", font=font)
    draw.text((LEFT + plot_w / 2 - 60, HEIGHT - 30), "readers (N)", fill="black", font=font)
    for i, (name, rows) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        for key, dashed in (("p50_ms", True), ("p99_ms", False)):
            points = [(x_of(r["readers"]), y_of(r[key])) for r in rows if r[key]]
            for a, b in itertools.pairwise(points):
                if dashed:
                    _dashed_line(draw, a, b, color)
                else:
                    draw.line([a, b], fill=color, width=3)
            for x, y in points:
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        legend_y = TOP + 10 + i * 22
        draw.line(
            [WIDTH - RIGHT + 20, legend_y + 6, WIDTH - RIGHT + 50, legend_y + 6],
            fill=color,
            width=3,
        )
        draw.text((WIDTH - RIGHT + 58, legend_y), name, fill="black", font=font)
    note_y = TOP + 10 + len(series) * 22 + 10
    draw.text((WIDTH - RIGHT + 20, note_y), "solid: p99, dashed: p50", fill="black", font=font)
    draw.text((WIDTH - RIGHT + 20, note_y + 18), "log scale", fill="black", font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return out


def _dashed_line(draw, a, b, color, dash: float = 8.0) -> None:
    length = math.dist(a, b)
    steps = max(1, int(length // dash))
    for k in range(0, steps, 2):
        t0, t1 = k / steps, min(1.0, (k + 1) / steps)
        start = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0)
        end = (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)
        draw.line([start, end], fill=color, width=2)


if __name__ == "__main__":
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/bench/w1_latency.png")
    print(w1_plot(json.loads(Path(sys.argv[1]).read_text()), target))
