"""Figure rendering: one matplotlib style for every figure, the paper's values marked the same way in each,
and each figure saved as PDF + PNG atomically."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from advrepro.io import atomic_path  # noqa: E402

# Every figure is drawn WIDTH inches wide, the report's column (960 px at the PNG's 150 dpi), so that its text
# prints at one size beside every other figure's, on screen and in the PDF.
WIDTH = 6.4
STYLE = {
    "figure.dpi": 150, "savefig.bbox": "tight", "savefig.pad_inches": 0.04, "figure.constrained_layout.use": True,
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "figure.titlesize": 8, "axes.titlelocation": "left",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "axes.axisbelow": True, "grid.color": "0.9",
    "grid.linewidth": 0.6, "legend.frameon": False, "lines.linewidth": 1.4, "lines.markersize": 4,
    "image.interpolation": "nearest",
}
plt.rcParams.update(STYLE)
# The paper's values: dashed lines (values along an axis) or hollow diamonds (single values), always marked so.
PAPER_LINE = {"linestyle": "--", "linewidth": 1.0}
PAPER_MARK = {"marker": "D", "markerfacecolor": "none", "markersize": 6, "linestyle": "none"}
IMAGE_TITLE_HEIGHT = 0.22  # inches above each row of an image grid


def new(width: float = WIDTH, height: float = 3.0, **kwargs):
    """A new (figure, axes) pair in the report's style."""
    return plt.subplots(figsize=(width, height), **kwargs)


def figure(height: float):
    """A new empty figure of the report's width, for layouts of subfigures."""
    return plt.figure(figsize=(WIDTH, height))


def save(fig, *, pdf: str, png: str, caption: str) -> None:
    """Save `fig` to both files with `caption` as its footer line under everything drawn, then close it."""
    fig.canvas.draw()  # lays the figure out, so that the extent of what it draws is known (inches)
    drawn = fig.get_tightbbox()
    fig.text(drawn.x0 / fig.get_figwidth(), (drawn.y0 - 0.06) / fig.get_figheight(), caption, fontsize=6,
             color="0.35", ha="left", va="top", wrap=True)
    for path, fmt in ((pdf, "pdf"), (png, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt)
    plt.close(fig)


def paper_label(artifact: dict, what: str) -> str:
    """The legend label of the paper's values: `what` the paper printed, and where (the reference's source)."""
    return f"paper: {what} ({artifact['reference']['source']})"


def legend_above(fig, extra: tuple = ()) -> None:
    """One legend of every labelled artist of the figure, plus the (handle, label) pairs in `extra`, above the
    panels, where it hides no data."""
    entries = [entry for ax in fig.axes for entry in zip(*ax.get_legend_handles_labels())] + list(extra)
    fig.legend(*zip(*entries), loc="outside upper center", ncols=2)


def paper_legend(fig, artifact: dict, what: str, style: dict) -> None:
    """legend_above with one more, black entry in `style` (PAPER_LINE or PAPER_MARK) labelled paper_label."""
    legend_above(fig, [(Line2D([], [], color="k", **style), paper_label(artifact, what))])


def epoch_axis(ax) -> None:
    """Label the x axis as training epochs, ticked at whole epochs only."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))


def draw_images(axes, images: list, cmap: str = "gray", vmin: float | None = 0, vmax: float | None = 1) -> None:
    """Show one image per axes (HxW grey or HxWx3), without ticks or frame."""
    for ax, image in zip(axes, images):
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_axis_off()


def image_grid(rows: list, titles: list[str], cmap: str = "gray", vmin: float | None = 0, vmax: float | None = 1):
    """A figure showing rows of HxW images (each row a list of 2-D arrays), a title per row, on one
    grey scale from vmin to vmax (None: each image's own range); rows shorter than the longest are centred."""
    n_cols = max(len(r) for r in rows)
    cell = WIDTH / n_cols
    fig = figure(len(rows) * (cell + IMAGE_TITLE_HEIGHT))
    for row, (images, title) in zip(fig.subfigures(len(rows), 1, squeeze=False)[:, 0], zip(rows, titles)):
        axes = row.subplots(1, n_cols, squeeze=False)[0]
        offset = (n_cols - len(images)) // 2
        draw_images(axes[offset:], images, cmap, vmin, vmax)
        for ax in (*axes[:offset], *axes[offset + len(images):]):
            ax.remove()
        row.suptitle(title, x=0.0, ha="left")
    return fig
