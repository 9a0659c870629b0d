"""Figure rendering: one matplotlib style, each figure saved as PDF + PNG atomically."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from advrepro.io import atomic_path  # noqa: E402

plt.rcParams.update({"figure.dpi": 120, "savefig.bbox": "tight", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False})


def new(width: float = 5.0, height: float = 3.2, **kwargs):
    """A new (figure, axes) pair in the report's style."""
    return plt.subplots(figsize=(width, height), **kwargs)


def save(fig, *, pdf: str, png: str, caption: str) -> None:
    """Save `fig` to both files with `caption` as its footer line, then close it."""
    fig.text(0.0, -0.02, caption, fontsize=7, color="0.35", ha="left", va="top", wrap=True)
    for path, fmt in ((pdf, "pdf"), (png, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt)
    plt.close(fig)


def image_grid(rows: list, titles: list[str], cmap: str = "gray", vmin: float | None = 0, vmax: float | None = 1):
    """A figure showing rows of HxW images (each row a list of 2-D arrays), a title per row, on one
    grey scale from vmin to vmax (None: each image's own range)."""
    n_cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(0.9 * n_cols, 1.0 * len(rows) + 0.2), squeeze=False)
    for axes_row, images, title in zip(axes, rows, titles):
        for ax, image in zip(axes_row, images):
            ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        for ax in axes_row:
            ax.set_axis_off()
        axes_row[0].set_title(title, fontsize=8, loc="left")
    return fig
