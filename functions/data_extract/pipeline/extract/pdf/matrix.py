"""Affine matrices of PDF page objects (row-vector convention): composing them, mapping points and boxes."""

from __future__ import annotations

Matrix = tuple[float, float, float, float, float, float]  # a, b, c, d, e, f
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def compose(inner: Matrix | None, outer: Matrix | None) -> Matrix | None:
    """Matrix that applies ``inner`` first, then ``outer`` (PDF row-vector convention)."""
    if inner is None:
        return outer
    if outer is None:
        return inner
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def apply(matrix: Matrix | None, x: float, y: float) -> tuple[float, float]:
    if matrix is None:
        return x, y
    a, b, c, d, e, f = matrix
    return a * x + c * y + e, b * x + d * y + f


def transform_box(box: Box, matrix: Matrix | None) -> Box:
    if matrix is None:
        return box
    x0, y0, x1, y1 = box
    corners = [apply(matrix, x, y) for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))]
    xs = [p[0] for p in corners]
    ys = [p[1] for p in corners]
    return (min(xs), min(ys), max(xs), max(ys))
