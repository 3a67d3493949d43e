"""Whiteboard documents: read the shared `shapes` map and export it as JSON, SVG or PNG."""

import io
import json
import math
import re
from functools import lru_cache
from itertools import pairwise

from pycrdt import Array, Doc, Map, Text

SHAPE_TYPES = ("rect", "ellipse", "line", "arrow", "freehand", "text", "sticky")
BOX_TYPES = frozenset({"rect", "ellipse", "text", "sticky"})
POINT_TYPES = frozenset({"line", "arrow", "freehand"})
TEXT_TYPES = frozenset({"text", "sticky"})

COORD_LIMIT = 1_000_000.0  # |x|, |y|, point offsets
SIZE_LIMIT = 1_000_000.0  # w, h
STROKE_WIDTH_LIMIT = 500.0
FONT_SIZE_LIMIT = 1_000.0
MAX_POINTS = 50_000  # triplets per shape; longer strokes are truncated
MAX_TEXT = 20_000  # characters per text/sticky shape
MAX_ID = 200  # characters of a shape id

DEFAULT_STROKE = "#000000"
DEFAULT_FILL = "none"
DEFAULT_STICKY_FILL = "#fff59d"
DEFAULT_STROKE_WIDTH = 2.0
DEFAULT_FONT_SIZE = 20.0
DEFAULT_BACKGROUND = None

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STICKY_PAD = 8.0
_LINE_HEIGHT = 1.25
_CHAR_WIDTH = 0.6  # average glyph width as a fraction of the font size (estimates only)


# Reading the document


def _number(value, default, low, high):
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    value = float(value)
    if not math.isfinite(value):
        return default
    return min(max(value, low), high)


def _colour(value, default):
    if isinstance(value, str) and _COLOUR.fullmatch(value):
        return value.lower()
    return default


def _fill(value, default):
    if value == "none":
        return "none"
    return _colour(value, default)


def _text(value) -> str:
    if isinstance(value, Text):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return value[:MAX_TEXT]


def _points(value) -> list[list[float]]:
    if isinstance(value, Array):
        try:
            # One native JSON encoding instead of to_py()'s per-item reads (each its own
            # transaction): 25x faster on a board with 100,000 points.
            value = json.loads(str(value))
        except Exception:
            return []
    if not isinstance(value, list | tuple):
        return []
    triplets = []
    for i in range(0, min(len(value), MAX_POINTS * 3) - 2, 3):
        px = _number(value[i], None, -COORD_LIMIT, COORD_LIMIT)
        py = _number(value[i + 1], None, -COORD_LIMIT, COORD_LIMIT)
        if px is None or py is None:
            continue
        triplets.append([px, py, _number(value[i + 2], 0.5, 0.0, 1.0)])
    return triplets


def _shape(shape_id, props) -> dict | None:
    kind = props.get("type")
    if kind not in SHAPE_TYPES:
        return None
    created_by = props.get("createdBy")
    created_by = _number(created_by, None, -(2.0**53), 2.0**53)
    index = props.get("index")
    shape = {
        "id": shape_id,
        "type": kind,
        "x": _number(props.get("x"), 0.0, -COORD_LIMIT, COORD_LIMIT),
        "y": _number(props.get("y"), 0.0, -COORD_LIMIT, COORD_LIMIT),
        "stroke": _colour(props.get("stroke"), DEFAULT_STROKE),
        "fill": _fill(props.get("fill"), DEFAULT_STICKY_FILL if kind == "sticky" else DEFAULT_FILL),
        "strokeWidth": _number(
            props.get("strokeWidth"), DEFAULT_STROKE_WIDTH, 0.0, STROKE_WIDTH_LIMIT
        ),
        "opacity": _number(props.get("opacity"), 1.0, 0.0, 1.0),
        "rotation": _number(props.get("rotation"), 0.0, -1e6, 1e6) % 360.0,
        "index": index if isinstance(index, str) else "",
        "createdBy": int(created_by) if created_by is not None else None,
    }
    if kind in BOX_TYPES:
        shape["w"] = _number(props.get("w"), 0.0, 0.0, SIZE_LIMIT)
        shape["h"] = _number(props.get("h"), 0.0, 0.0, SIZE_LIMIT)
    if kind in POINT_TYPES:
        points = _points(props.get("points"))
        shape["points"] = points[:2] if kind != "freehand" else points
    if kind in TEXT_TYPES:
        shape["text"] = _text(props.get("text"))
        shape["fontSize"] = _number(props.get("fontSize"), DEFAULT_FONT_SIZE, 1.0, FONT_SIZE_LIMIT)
    return shape


def board_shapes(doc: Doc) -> list[dict]:
    """The board's valid shapes as plain dicts, in paint order (ascending index, then id)."""
    try:
        root = doc.get("shapes", type=Map)
        entries = list(root.items())
    except Exception:
        return []
    shapes = []
    for shape_id, props in entries:
        if not isinstance(shape_id, str) or not isinstance(props, Map):
            continue
        try:
            shape = _shape(shape_id[:MAX_ID], dict(props.items()))
        except Exception:
            shape = None
        if shape is not None:
            shapes.append(shape)
    shapes.sort(key=lambda s: (s["index"], s["id"]))
    return shapes


def board_background(doc: Doc) -> str | None:
    try:
        return _colour(doc.get("board", type=Map).get("background"), DEFAULT_BACKGROUND)
    except Exception:
        return DEFAULT_BACKGROUND


def board_json(doc: Doc, *, shape_ids=None) -> dict:
    return {"shapes": _select(board_shapes(doc), shape_ids), "background": board_background(doc)}


def _select(shapes, shape_ids):
    if shape_ids is None:
        return shapes
    wanted = set(shape_ids)
    return [s for s in shapes if s["id"] in wanted]


# Geometry


def _text_lines(shape) -> list[str]:
    return shape["text"].split("\n")


def _box(shape) -> tuple[float, float, float, float]:
    """Unrotated x, y, w, h of a box shape (text without a size gets an estimated one)."""
    w, h = shape["w"], shape["h"]
    if shape["type"] == "text" and (w <= 0 or h <= 0):
        lines = _text_lines(shape)
        size = shape["fontSize"]
        w = w or max(len(line) for line in lines) * size * _CHAR_WIDTH
        h = h or len(lines) * size * _LINE_HEIGHT
    return shape["x"], shape["y"], w, h


def _absolute_points(shape) -> list[tuple[float, float, float]]:
    x, y = shape["x"], shape["y"]
    return [(x + px, y + py, p) for px, py, p in shape["points"]]


def _drawable(shape) -> bool:
    if shape["type"] in ("line", "arrow"):
        return len(shape["points"]) == 2
    if shape["type"] == "freehand":
        return bool(shape["points"])
    return True


def _outline(shape) -> list[tuple[float, float]]:
    """Points whose bounding box covers the unrotated shape."""
    if shape["type"] in BOX_TYPES:
        x, y, w, h = _box(shape)
        return [(x, y), (x + w, y + h)]
    return [(px, py) for px, py, _p in _absolute_points(shape)]


def _centre(shape) -> tuple[float, float]:
    points = _outline(shape)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def _rotate(points, shape):
    """Points rotated by the shape's rotation about the centre of its unrotated bounds."""
    if not shape["rotation"]:
        return list(points)
    cx, cy = _centre(shape)
    angle = math.radians(shape["rotation"])
    cos, sin = math.cos(angle), math.sin(angle)
    return [
        (cx + (px - cx) * cos - (py - cy) * sin, cy + (px - cx) * sin + (py - cy) * cos)
        for px, py in points
    ]


def _margin(shape) -> float:
    margin = shape["strokeWidth"] / 2
    if shape["type"] == "arrow":
        margin += _arrow_head(shape)
    return margin


def _bounds(shapes) -> tuple[float, float, float, float] | None:
    xs, ys = [], []
    for shape in shapes:
        points = _outline(shape)
        if shape["type"] in BOX_TYPES:
            (x0, y0), (x1, y1) = points
            points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        margin = _margin(shape)
        for px, py in _rotate(points, shape):
            xs += [px - margin, px + margin]
            ys += [py - margin, py + margin]
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _arrow_head(shape) -> float:
    return max(10.0, shape["strokeWidth"] * 3)


def _prepare(doc, shape_ids):
    shapes = [s for s in _select(board_shapes(doc), shape_ids) if _drawable(s)]
    return shapes, _bounds(shapes)


# SVG


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _esc(value) -> str:
    text = _NOT_XML.sub("", str(value))
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _tag(name: str, attrs: dict, children: str | None = None) -> str:
    # Attribute names are always literals of this module; only values come from the board.
    rendered = "".join(
        f' {key}="{_esc(value)}"' for key, value in attrs.items() if value is not None
    )
    if children is None:
        return f"<{name}{rendered}/>"
    return f"<{name}{rendered}>{children}</{name}>"


def _common(shape) -> dict:
    attrs = {"data-id": shape["id"], "data-type": shape["type"]}
    if shape["opacity"] != 1:
        attrs["opacity"] = _n(shape["opacity"])
    if shape["rotation"]:
        cx, cy = _centre(shape)
        attrs["transform"] = f"rotate({_n(shape['rotation'])} {_n(cx)} {_n(cy)})"
    return attrs


def _smooth_path(points) -> str:
    """Quadratic curves through the midpoints of consecutive points."""
    (x0, y0, _p) = points[0]
    if len(points) == 1:
        return f"M{_n(x0)} {_n(y0)}l0 0"
    if len(points) == 2:
        return f"M{_n(x0)} {_n(y0)}L{_n(points[1][0])} {_n(points[1][1])}"
    parts = [f"M{_n(x0)} {_n(y0)}"]
    for (ax, ay, _pa), (bx, by, _pb) in pairwise(points[1:]):
        parts.append(f"Q{_n(ax)} {_n(ay)} {_n((ax + bx) / 2)} {_n((ay + by) / 2)}")
    parts.append(f"L{_n(points[-1][0])} {_n(points[-1][1])}")
    return "".join(parts)


def _svg_text(shape, x, y, colour) -> tuple[dict, str]:
    size = shape["fontSize"]
    spans = "".join(
        _tag("tspan", {"x": _n(x), "dy": _n(size if i == 0 else size * _LINE_HEIGHT)}, _esc(line))
        for i, line in enumerate(_text_lines(shape))
    )
    attrs = {
        "x": _n(x),
        "y": _n(y),
        "fill": colour,
        "font-size": _n(size),
        "font-family": "sans-serif",
        "xml:space": "preserve",
    }
    return attrs, spans


def _svg_shape(shape, markers: list[str]) -> str:
    kind, stroke, sw = shape["type"], shape["stroke"], _n(shape["strokeWidth"])
    common = _common(shape)
    if kind in ("rect", "ellipse", "sticky"):
        x, y, w, h = _box(shape)
    if kind == "rect":
        return _tag(
            "rect",
            {
                **common,
                "x": _n(x),
                "y": _n(y),
                "width": _n(w),
                "height": _n(h),
                "fill": shape["fill"],
                "stroke": stroke,
                "stroke-width": sw,
            },
        )
    if kind == "ellipse":
        return _tag(
            "ellipse",
            {
                **common,
                "cx": _n(x + w / 2),
                "cy": _n(y + h / 2),
                "rx": _n(w / 2),
                "ry": _n(h / 2),
                "fill": shape["fill"],
                "stroke": stroke,
                "stroke-width": sw,
            },
        )
    if kind in ("line", "arrow"):
        (x1, y1, _p1), (x2, y2, _p2) = _absolute_points(shape)
        attrs = {
            **common,
            "x1": _n(x1),
            "y1": _n(y1),
            "x2": _n(x2),
            "y2": _n(y2),
            "stroke": stroke,
            "stroke-width": sw,
            "stroke-linecap": "round",
        }
        if kind == "arrow":
            marker_id = f"arrowhead-{len(markers)}"
            size = _arrow_head(shape)
            head = _tag("path", {"d": "M0 0L10 5L0 10z", "fill": stroke})
            markers.append(
                _tag(
                    "marker",
                    {
                        "id": marker_id,
                        "viewBox": "0 0 10 10",
                        "refX": "9",
                        "refY": "5",
                        "markerUnits": "userSpaceOnUse",
                        "markerWidth": _n(size),
                        "markerHeight": _n(size),
                        "orient": "auto",
                    },
                    head,
                )
            )
            attrs["marker-end"] = f"url(#{marker_id})"
        return _tag("line", attrs)
    if kind == "freehand":
        return _tag(
            "path",
            {
                **common,
                "d": _smooth_path(_absolute_points(shape)),
                "fill": "none",
                "stroke": stroke,
                "stroke-width": sw,
                "stroke-linecap": "round",
                "stroke-linejoin": "round",
            },
        )
    if kind == "text":
        x, y, _w, _h = _box(shape)
        attrs, spans = _svg_text(shape, x, y, stroke)
        return _tag("text", {**common, **attrs}, spans)
    # sticky: a filled rounded rectangle with the text inside.
    note = _tag(
        "rect",
        {
            "x": _n(x),
            "y": _n(y),
            "width": _n(w),
            "height": _n(h),
            "rx": "6",
            "ry": "6",
            "fill": shape["fill"],
            "stroke": stroke,
            "stroke-width": sw,
        },
    )
    attrs, spans = _svg_text(shape, x + _STICKY_PAD, y + _STICKY_PAD, stroke)
    return _tag("g", common, note + _tag("text", attrs, spans))


def render_svg(doc: Doc, *, shape_ids=None, padding=20) -> str:
    """A standalone SVG of the board, or of the shapes whose ids are in shape_ids."""
    shapes, bounds = _prepare(doc, shape_ids)
    head = '<svg xmlns="http://www.w3.org/2000/svg" version="1.1"'
    if bounds is None:
        return f'{head} width="1" height="1" viewBox="0 0 1 1"/>'
    padding = _number(padding, 20.0, 0.0, 10_000.0)
    x0, y0, x1, y1 = bounds
    x0, y0 = x0 - padding, y0 - padding
    w, h = max(x1 - x0 + padding, 1.0), max(y1 - y0 + padding, 1.0)
    markers: list[str] = []
    body = "".join(_svg_shape(shape, markers) for shape in shapes)
    background = board_background(doc)
    if background and shape_ids is None:
        body = (
            _tag(
                "rect",
                {"x": _n(x0), "y": _n(y0), "width": _n(w), "height": _n(h), "fill": background},
            )
            + body
        )
    defs = f"<defs>{''.join(markers)}</defs>" if markers else ""
    return (
        f'{head} width="{_n(w)}" height="{_n(h)}" '
        f'viewBox="{_n(x0)} {_n(y0)} {_n(w)} {_n(h)}">{defs}{body}</svg>'
    )


# PNG


@lru_cache(maxsize=64)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except Exception:  # Pillow without FreeType: the fixed-size bitmap font
        return ImageFont.load_default()


def _rgba(colour: str, opacity: float) -> tuple[int, int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), round(opacity * 255))


def _ellipse_points(x, y, w, h, steps=72):
    cx, cy = x + w / 2, y + h / 2
    return [
        (
            cx + w / 2 * math.cos(2 * math.pi * i / steps),
            cy + h / 2 * math.sin(2 * math.pi * i / steps),
        )
        for i in range(steps)
    ]


def _png_shape(draw, shape, to_px, scale):
    kind = shape["type"]
    stroke = _rgba(shape["stroke"], shape["opacity"])
    fill = None if shape["fill"] == "none" else _rgba(shape["fill"], shape["opacity"])
    width = max(0, round(shape["strokeWidth"] * scale))
    line_width = max(1, width)
    rotated = bool(shape["rotation"])

    def px(points):
        return [to_px(p) for p in _rotate(points, shape)]

    if kind in ("rect", "ellipse", "sticky"):
        x, y, w, h = _box(shape)
        if rotated:
            corners = (
                _ellipse_points(x, y, w, h)
                if kind == "ellipse"
                else [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
            )
            draw.polygon(
                px(corners), fill=fill, outline=stroke if width else None, width=width or 1
            )
        else:
            box = [to_px((x, y)), to_px((x + w, y + h))]
            if kind == "ellipse":
                draw.ellipse(box, fill=fill, outline=stroke if width else None, width=width)
            elif kind == "sticky":
                draw.rounded_rectangle(
                    box, radius=6 * scale, fill=fill, outline=stroke if width else None, width=width
                )
            else:
                draw.rectangle(box, fill=fill, outline=stroke if width else None, width=width)
        if kind == "sticky":
            _png_text(draw, shape, x + _STICKY_PAD, y + _STICKY_PAD, to_px, scale, stroke)
        return
    if kind == "text":
        x, y, _w, _h = _box(shape)
        _png_text(draw, shape, x, y, to_px, scale, stroke)
        return
    points = px([(p[0], p[1]) for p in _absolute_points(shape)])
    if len(points) == 1:
        (cx, cy), r = points[0], line_width / 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=stroke)
        return
    draw.line(points, fill=stroke, width=line_width, joint="curve")
    if kind == "arrow":
        (ax, ay), (bx, by) = points
        angle = math.atan2(by - ay, bx - ax)
        size = _arrow_head(shape) * scale
        left = (
            bx - size * math.cos(angle - math.pi / 7),
            by - size * math.sin(angle - math.pi / 7),
        )
        right = (
            bx - size * math.cos(angle + math.pi / 7),
            by - size * math.sin(angle + math.pi / 7),
        )
        draw.polygon([(bx, by), left, right], fill=stroke)


def _png_text(draw, shape, x, y, to_px, scale, colour):
    size = max(1, round(shape["fontSize"] * scale))
    font = _font(size)
    left, top = to_px((x, y))
    for i, line in enumerate(_text_lines(shape)):
        if line:
            draw.text((left, top + i * size * _LINE_HEIGHT), line, fill=colour, font=font)


def render_png(doc: Doc, *, shape_ids=None, scale=1.0, max_pixels=16_000_000, padding=20) -> bytes:
    """The board (or the selected shapes) rasterised with Pillow, at most max_pixels pixels."""
    from PIL import Image, ImageDraw

    shapes, bounds = _prepare(doc, shape_ids)
    background = board_background(doc) or "#ffffff"
    scale = _number(scale, 1.0, 1e-6, 100.0)
    max_pixels = max(1, int(max_pixels))
    if bounds is None:
        x0 = y0 = 0.0
        bw = bh = 1.0
    else:
        x0, y0 = bounds[0] - padding, bounds[1] - padding
        bw = max(bounds[2] - x0 + padding, 1.0)
        bh = max(bounds[3] - y0 + padding, 1.0)
    if bw * scale * bh * scale > max_pixels:
        scale = math.sqrt(max_pixels / (bw * bh))
    width = min(max(1, math.ceil(bw * scale)), max_pixels)
    height = max(1, min(math.ceil(bh * scale), max_pixels // width))

    def to_px(point):
        return ((point[0] - x0) * scale, (point[1] - y0) * scale)

    image = Image.new("RGB", (width, height), _rgba(background, 1)[:3])
    draw = ImageDraw.Draw(image, "RGBA")
    for shape in shapes:
        _png_shape(draw, shape, to_px, scale)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
