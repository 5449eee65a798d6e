"""Representation alignment: do networks that solve the same task learn the same representation?"""

import numpy as np
import streamlit as st

from engine import alignment as lab
from engine import cache
from ui import alignment_figures as af
from ui import compare, controls, export, present, run

st.title("Representation alignment: do different networks learn the same representation?")
present.explain(
    r"""
The **Platonic representation hypothesis** (Huh et al. 2024) says that models trained on data from the same world
converge toward a shared representation, and that the more capable a model, the more it agrees with other capable
models. Here a small **zoo** is trained on the 8x8 digits: MLPs of several widths, depths, activations and seeds,
small **conv nets**, and **untrained** networks of each architecture as baselines. Each model's chosen layer is
read on the same held-out **probe** digits, and every pair is compared:

- **linear CKA** (Kornblith et al. 2019): center the features $X$ ($n \times p$) and $Y$ ($n \times q$);
  $\mathrm{CKA} = \lVert Y^\top X\rVert_F^2 / (\lVert X^\top X\rVert_F \lVert Y^\top Y\rVert_F)$. It is 1 for
  $Y = cXQ$ (rotation $Q$, scale $c$), not for general invertible maps. The **unbiased** variant uses Song et al.'s
  unbiased HSIC estimator: near 0 for independent features;
- **mutual k-NN** (Huh et al.): the average fraction of each probe digit's $k$ nearest neighbours (cosine) that
  the two models share. Chance is $k/(n-1)$.

**Caveat:** raw scores are not calibrated. Biased CKA of *independent* random features is well above 0 and grows
with width and depth (Murphy et al. 2024), and a wide untrained network still looks like its pixel input. So every
score is shown next to a **permutation null** (the rows of one representation shuffled: same features, no
correspondence), and trained models are compared with untrained ones.

*Convention:* each model is trained by full-batch Adam on $L = \frac{1}{2m}\sum_i \lVert f(x_i) - y_i\rVert^2$
with one-hot targets; accuracy is on the held-out digits (the probe set is part of them). References:
[Kornblith et al. 2019](https://arxiv.org/abs/1905.00414); [Huh et al. 2024](https://arxiv.org/abs/2405.07987);
[Song et al. 2012](https://jmlr.org/papers/v13/song12a.html);
[Murphy, Zylberberg & Fyshe 2024](https://arxiv.org/abs/2405.01012) (null calibration).
"""
)

cfg = controls.sidebar(
    lab.Config,
    ["zoo", "layer", "k", "clip", "n_seeds", "untrained", "steps", "lr", "n_probe", "n_perm", "seed"],
    presets=lab.PRESETS,
    labels={"k": "k (mutual k-NN)", "clip": "clip features at the 0.95 quantile", "n_perm": "null permutations"},
    limits={"k": (1, 50), "steps": (20, 1500), "n_probe": (100, 797), "n_perm": (1, 10)},
    present=["zoo", "layer", "k"],
)
options = {af.METRIC_LABELS[m]: m for m in lab.METRICS}
metric = options[controls.choice("similarity measure", list(options), key="metric")]
to = controls.choice("alignment of each model", ["to the most accurate model", "mean to the others"], key="to")
to = "best" if to.startswith("to the") else "mean"
pinned = compare.pins("alignment", cfg, cache.lookup(cache.key_for(cfg)))

st.subheader("Alignment rises with competence")
left, right = st.columns(2)
top_l, top_r = left.empty(), right.empty()
st.subheader("Every pair of models")
matrix = st.empty()


def big(fig):
    """Projector-sized type in presentation mode (plotly ignores the page's CSS)."""
    return fig.update_layout(font=dict(size=16)) if present.active() else fig


def draw(r):
    if r.done == 0:
        return
    if r.snap_steps.size == 0:  # live, while training: the models finished so far (accuracy, CKA)
        run.chart(top_l, af.accuracy_bars(r))
        top_r.info(
            f"{r.done} models ready. Their accuracy and linear CKA appear as each architecture finishes; the "
            "alignment-vs-accuracy claim, the training curves and the nulls follow once the whole zoo is compared."
        )
        run.chart(matrix, af.similarity_heatmaps(r, "cka"))
        return
    run.chart(top_l, big(af.alignment_scatter(r, metric, to)))
    build = lambda x: af.training_curves(x, metric, per_model=not pinned)  # noqa: E731
    run.chart(top_r, big(compare.overlay(build, r, pinned)))
    run.chart(matrix, af.similarity_heatmaps(r, metric))


res = run.run_lab(cfg, draw, label="Training the zoo")
if res is not None:
    null_lvl = np.nanmean(res.null(metric)[np.ix_(res.trained, res.trained)])
    left.caption(
        f"One point per model; faint paths: the trained models at {len(res.snap_steps)} snapshots during training. "
        f"Dotted: the permutation null (about {null_lvl:.3f}). Layer: {res.layer}."
    )
    right.caption(
        "Alignment of each trained model to the most accurate model's final representation, as training proceeds "
        "(thin lines; thick: their mean), against the held-out accuracy (dashed, right axis) and the null (dotted)."
        + (" Pinned runs: dotted, faded, means only." if pinned else "")
    )
    st.caption(
        f"Models ordered by family (white lines); hover a cell for its score and null (mean ± std over "
        f"{cfg.n_perm} permutations). Read each score against the null beside it: the null is what the same two "
        "sets of features score with the correspondence between probe digits destroyed."
    )

    if present.active():  # the lecture's figures stop here; the layer view and the table are for study
        st.stop()
    st.subheader("Layer by layer")
    names = list(res.models)
    c1, c2 = st.columns(2)
    zkey = f"{cfg.zoo}_{cfg.n_seeds}_{cfg.untrained}"
    a = c1.selectbox("model A", names, index=res.model_a, key=f"pair_a_{zkey}")
    b = c2.selectbox("model B", names, index=res.model_b, key=f"pair_b_{zkey}")
    pair = res
    if (names.index(a), names.index(b)) != (res.model_a, res.model_b):
        pair = run.run_lab(cfg.replace(model_a=names.index(a), model_b=names.index(b)), label="Comparing layers")
    if pair is not None:
        run.chart(st.empty(), af.layer_heatmap(pair))
        st.caption(
            "Linear CKA between every layer of A (rows) and of B (columns), the input pixels first: where in each "
            "network the shared representation forms, and how far from the pixels each layer has moved."
        )

    st.subheader("Held-out accuracy of the zoo")
    run.chart(st.empty(), af.accuracy_bars(res))
    if res.diverged:
        st.warning(f"Some models diverged (first at step {res.diverged_step}): lower the learning rate.")
    table = {"model": res.models, "group": res.group, "accuracy": res.accuracy}
    for i, m in enumerate(lab.METRICS):
        table |= {f"{m}_to_best": res.align_best[i], f"{m}_mean_to_others": res.align_mean[i]}
    table |= {f"{metric} vs {n}": res.sim(metric)[:, j] for j, n in enumerate(res.models)}
    table |= {f"null {metric} vs {n}": res.null(metric)[:, j] for j, n in enumerate(res.models)}
    export.panel(f"alignment_{metric}", cfg, table)
