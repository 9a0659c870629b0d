"""Figures a reader wants to look at: drawn in the report's one style and width, no empty panel, and the paper's
values (from the registry) drawn beside ours and named as the paper's in the legend."""

import numpy as np
import pytest
import yaml
from PIL import Image

from advrepro import figures
from advrepro.papers import ArtifactInputs, builder
from conftest import REPO

RNG = np.random.default_rng(0)


def _registry_figure(paper: str, name: str) -> dict:
    """A figure's registry entry as the workflow passes it to the builder (YAML aliases resolved)."""
    return yaml.safe_load((REPO / f"config/papers/{paper}.yaml").read_text())["figures"][name]


def _inputs(artifact: dict, result=None, record=None) -> ArtifactInputs:
    """Inputs for every model of the artifact: result(model) per evaluation, record(model) as training record."""
    models = {m: {"label": f"net {m}", "dataset": "mnist"} for m in artifact["models"]}
    results = {(m, e): result(m) for m in artifact["models"] for e in artifact.get("evaluations", [])} if result else {}
    records = {m: record(m) for m in artifact["models"]} if record else {}
    return ArtifactInputs(results, models, records=records)


def _history(model: str) -> dict:
    return {"history": [{"epoch": e, "train_error": 0.5 / e, "monitor_error": 0.6 / e} for e in (1, 2, 3)]}


def _fgsm_sweep(model: str) -> dict:
    return {"fgsm": [{"eps": eps, "error": 0.05 + eps} for eps in (0.0, 0.1, 0.3)]}


def _min_perturbations(model: str) -> dict:
    norms = RNG.gamma(3.0, 0.05, 500)
    return {"norms": norms.tolist(), "statistics": {"mean": norms.mean(), "std": norms.std(), "n_correct": 500}}


def _logistic(model: str) -> dict:
    return {"eps": 0.25, "weights": RNG.normal(size=(1, 28, 28)).tolist(), "clean": {"error": 0.02},
            "fgsm": {"error": 0.97}, "closed_form_max_abs_gap": 1e-7,
            "examples": {"labels": [0, 1] * 5, "predictions": [1, 0] * 5, "images": RNG.random((10, 1, 28, 28)).tolist()}}


# (paper, figure, inputs, what the paper printed: model -> numbers that must be drawn)
WITH_REFERENCE = {
    "lyu2015 fig5": ("lyu2015", "fig5", dict(result=_min_perturbations), lambda v: [v["mean"], v["mean"] + v["std"]]),
    "shaham2015 fig3": ("shaham2015", "fig3", dict(result=_fgsm_sweep), lambda v: [v["MNIST test"]]),
    "shaham2015 fig5": ("shaham2015", "fig5", dict(record=_history), lambda v: [v["CIFAR-10 test"]]),
    "shaham2015 fig6": ("shaham2015", "fig6", dict(result=_fgsm_sweep), lambda v: [v["CIFAR-10 test"]]),
    "tanay2016 lenet_curves": ("tanay2016", "lenet_curves", dict(record=_history), lambda v: [v["test error"]]),
    "goodfellow2014 logreg_fig": ("goodfellow2014", "logreg_fig", dict(result=_logistic),
                                  lambda v: [v["clean error"], v["fgsm error"]]),
}


def _build(paper: str, name: str, inputs: dict):
    artifact = _registry_figure(paper, name)
    return artifact, builder(paper, artifact["builder"])(artifact, _inputs(artifact, **inputs))


def _drawn_numbers(fig) -> np.ndarray:
    """Every coordinate a line, marker, error bar or bar of the figure passes through (data units)."""
    numbers = []
    for ax in fig.axes:
        for line in ax.lines:
            numbers += [*np.ravel(line.get_xdata()), *np.ravel(line.get_ydata())]
        for collection in ax.collections:
            numbers += [value for path in collection.get_paths() for value in np.ravel(path.vertices)]
        numbers += [patch.get_height() for patch in ax.patches if hasattr(patch, "get_height")]
    return np.asarray(numbers, dtype=float)


@pytest.mark.parametrize("case", WITH_REFERENCE)
def test_the_papers_values_are_drawn_beside_ours_and_named_in_the_legend(case):
    paper, name, inputs, printed = WITH_REFERENCE[case]
    artifact, fig = _build(paper, name, inputs)
    drawn = _drawn_numbers(fig)
    for model in artifact["models"]:
        for value in printed(artifact["reference"]["values"][model]):
            assert np.isclose(drawn, value).any(), f"{case}: the paper's {value} of {model} is not drawn"
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    legend = [text.get_text() for legend in legends for text in legend.get_texts()]
    assert any(t.startswith("paper") and artifact["reference"]["source"] in t for t in legend), legend


@pytest.mark.parametrize("case", WITH_REFERENCE)
def test_figures_are_drawn_at_the_reports_width_without_empty_panels(case):
    paper, name, inputs, _ = WITH_REFERENCE[case]
    _, fig = _build(paper, name, inputs)
    assert fig.get_figwidth() == figures.WIDTH
    assert [ax for ax in fig.axes if not ax.has_data()] == []


def test_an_image_grid_has_no_empty_panel_where_a_row_is_short():
    fig = figures.image_grid([[np.zeros((4, 4))] * 2, [np.ones((4, 4))] * 6], ["two", "six"])
    assert len(fig.axes) == 8 and all(ax.has_data() for ax in fig.axes)
    assert fig.get_figwidth() == figures.WIDTH


def _blank(png) -> np.ndarray:
    """Which pixels of a PNG are background (near white)."""
    return np.asarray(Image.open(png).convert("L")) >= 250


def _longest_run(flags: np.ndarray) -> int:
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, flags.astype(int), 0])))[::2]
    return int(runs.max(initial=0))


def largest_blank_rectangle(blank: np.ndarray, block: int = 4) -> float:
    """The largest axis-aligned rectangle of background (in blocks of `block` pixels) as a fraction of the image."""
    h, w = (size // block for size in blank.shape)
    blocks = blank[: h * block, : w * block].reshape(h, block, w, block).all(axis=(1, 3))
    heights, best = np.zeros(w, dtype=int), 0
    for row in blocks:  # the largest rectangle under the histogram of blank heights, row after row
        heights = np.where(row, heights + 1, 0)
        stack = []
        for i, height in enumerate([*heights, 0]):
            start = i
            while stack and stack[-1][1] >= height:
                start, top = stack.pop()
                best = max(best, top * (i - start))
            stack.append((start, height))
    return best / (h * w)


def test_blank_measures_find_an_empty_panel_and_a_blank_band():
    blank = np.ones((100, 200), dtype=bool)
    blank[:, :60] = False  # a drawn panel on the left, the rest empty
    assert largest_blank_rectangle(blank) == pytest.approx(0.7)
    assert _longest_run(blank.all(1)) == 0 and _longest_run(blank.all(0)) == 140


@pytest.mark.workflow
def test_no_figure_of_the_smoke_run_is_mostly_blank(smoke_run):
    """No empty panel (a blank rectangle over a fifth of the figure) and no blank band across it (over a tenth
    of its height); a figure under 100 px tall is a one-line note that the scale leaves nothing to draw."""
    workdir, _ = smoke_run
    pngs = sorted((workdir / "results/figures").glob("*/*.png"))
    assert pngs
    mostly_blank = {}
    for png in pngs:
        blank = _blank(png)
        if len(blank) >= 100:
            rectangle, band = largest_blank_rectangle(blank), _longest_run(blank.all(1)) / len(blank)
            if rectangle > 0.2 or band > 0.1:
                mostly_blank[f"{png.parent.name}/{png.name}"] = f"blank rectangle {rectangle:.0%}, band {band:.0%}"
    assert mostly_blank == {}
