"""Scaling laws: loss vs model size, data and compute; fits with intervals; solvable theory."""

import numpy as np
import streamlit as st

from engine import cache, eigenlearning, rf
from engine import scaling as lab
from ui import compare, controls, export, present, run
from ui import scaling_figures as sf

st.title("Scaling laws: loss vs model size, data and compute")
present.explain(
    r"""
Test loss falls as a **power law** in the number of parameters $N$, of training examples $D$ and of compute
$C$, until another resource runs out (Kaplan et al. 2020). Hoffmann et al. (2022) fit
$L(N, D) = E + A N^{-a} + B D^{-b}$ and, with $C \approx 6ND$ FLOPs, split a budget between size and data:
$N^*(C) \propto C^{b/(a+b)}$. **Where do the exponents come from?** From the spectrum of the data: if feature
variances fall as $k^{-b}$ and the target's power as $k^{-(1+br)}$, a model that can use only $N$ directions
misses $\sum_{k>N} k^{-(1+br)} \sim N^{-br}$ (Maloney, Roberts & Sully 2022; Bordelon, Atanasov & Pehlevan 2024).

Here: MLPs (tanh, one hidden layer, Adam, full batch, a fixed number of steps) on a **power-law teacher**
with freely drawn data ($y_k = w^*_k x_k$, $x_k \sim N(0, k^{-b})$, output power $k^{-(1+br)}$: a hidden layer of
width $w$ carries at most $w$ directions) or on **digits**. Below: the random-features model where all of this is
solvable, its compute-optimal phases (Paquette et al. 2024), and eigenlearning (Simon et al. 2021), which predicts
kernel regression's learning curve from the spectrum alone.

*Convention:* $L = \frac{1}{2m}\sum_i \lVert f(x_i) - y_i\rVert^2$ (summed over outputs) on held-out data; time
$t$ = learning rate $\times$ steps. $L(N, D)$ is the best held-out loss over the run (early stopping).
References: [Kaplan 2020](https://arxiv.org/abs/2001.08361), [Hoffmann 2022](https://arxiv.org/abs/2203.15556),
[Maloney 2022](https://arxiv.org/abs/2210.16859), [Bordelon 2024](https://arxiv.org/abs/2402.01092),
[Paquette 2024](https://arxiv.org/abs/2405.15074), [Simon 2021](https://arxiv.org/abs/2110.03922).
"""
)

cfg = controls.sidebar(
    lab.Config,
    ["dataset", "widths", "sizes", "steps", "lr", "spectrum_exponent", "target_exponent", "seed"],
    presets=lab.PRESETS,
    labels={"spectrum_exponent": "teacher b", "target_exponent": "teacher r", "lr": "learning rate"},
    limits={"steps": (20, 5000), "lr": (1e-4, 0.3)},
    present=["dataset", "steps"],
)

st.subheader("Trained networks: L(N), L(D), L(C)")
c1, c2 = st.columns(2)
box_n, box_d = c1.empty(), c2.empty()
c3, c4 = st.columns(2)
box_map, box_c = c3.empty(), c4.empty()


pinned = compare.pins("scaling", cfg, cache.lookup(cache.key_for(cfg)))


def draw(r):
    run.chart(box_n, compare.overlay(lambda q: sf.loss_vs_axis(q, "N"), r, pinned))
    run.chart(box_d, compare.overlay(lambda q: sf.loss_vs_axis(q, "D"), r, pinned))
    run.chart(box_map, sf.phase_map(r))
    run.chart(box_c, sf.loss_vs_compute(r))


res = run.run_lab(cfg, draw, label=f"Training {len(cfg.widths)} x {len(cfg.sizes)} networks")
if res is not None and np.all(np.isfinite(res.fit)):
    E, A, a, B, b = res.fit
    ci = dict(zip("EAaBb", res.fit_ci))
    boot = res.fit_boot
    xi = np.percentile(boot[:, 4] / (boot[:, 2] + boot[:, 4]), [2.5, 97.5]) if len(boot) else (np.nan, np.nan)
    pred = f" (the bottleneck predicts b r = {cfg.spectrum_exponent * cfg.target_exponent:.2f})"
    st.markdown(
        f"**Fit** $L = E + A N^{{-a}} + B D^{{-b}}$: $a$ = {sf._fmt_ci(a, ci['a'])}, "
        f"$b$ = {sf._fmt_ci(b, ci['b'])}, $E$ = {E:.2g} [{ci['E'][0]:.1g}, {ci['E'][1]:.1g}] "
        f"(95% bootstrap intervals, {len(boot)} resamples of the {res.loss.size} runs). "
        f"One variable at a time: $L(N)$ at $D$ = {res.sizes[-1]}: exponent "
        f"{sf._fmt_ci(res.fit_n[2], res.fit_n_ci)}"
        + (pred if cfg.dataset == "teacher" else "")
        + f"; $L(D)$ at width {res.widths[-1]}: {sf._fmt_ci(res.fit_d[2], res.fit_d_ci)}. "
        f"Compute-optimal size $N^* \\propto C^{{b/(a+b)}}$ = $C^{{{b / (a + b):.2f}}}$ [{xi[0]:.2f}, {xi[1]:.2f}]."
    )
    ratio = res.flops / res.six_nd
    st.caption(
        "Left map: every run's loss (colour, log scale) over (N, D). Above the white line the model's term "
        "$A N^{-a}$ dominates (model-limited), below it the data's (data-limited); dotted: iso-FLOP lines; "
        "orange: the compute-optimal path from the fit. Right: each run's loss against the FLOPs spent so far; "
        f"the black envelope is the best loss reachable at each compute. Counted FLOPs (matmuls, element-wise "
        f"work and the Adam update) are {ratio.min():.2f} to {ratio.max():.2f} times the 6ND rule "
        f"(6 N D steps): the first layer needs no input gradient, and the small runs pay for element-wise work."
    )
    i1, i2 = st.columns([3, 2])
    run.chart(i1.empty(), sf.isoflop(res))
    i2.markdown(
        "**IsoFLOP profiles** from the fit: at fixed compute $C = kND$ ($k$ = counted FLOPs per parameter per "
        f"example, here {lab.flops_per_nd(res):.0f} for {cfg.steps} steps) a model too small is model-limited, "
        "one too large has too little data. Stars: the fitted optimum; open circles: the optimum if compute is "
        "counted by the 6ND rule instead."
    )
    export.panel(
        "scaling_sweep",
        cfg,
        {
            "N": np.repeat(res.n_params, len(res.sizes)),
            "D": np.tile(res.sizes, len(res.widths)),
            "loss": res.loss.ravel(),
            "flops": res.flops.ravel(),
            "six_nd": res.six_nd.ravel(),
        },
    )
elif res is not None:
    st.warning("The two-variable fit needs at least six finished, finite runs.")

st.subheader("Solvable theory: power-law random features")
t1, t2 = st.columns([1, 3])
tcfg = controls.sidebar(
    rf.TheoryConfig,
    ["b", "r"],
    prefix="rf_",
    container=t1,
    labels={"b": "spectrum exponent b", "r": "target exponent r"},
)
# both theory panels at their defaults come from the shared (warmable) cache; other settings are solved here
panels = (
    run.call("default_panels", lab.Config(), lab.default_panels, label="Solving the theory panels")
    if tcfg == rf.TheoryConfig()
    else None
)
theory = (
    panels["theory"]
    if panels
    else st.cache_data(rf.solvable, max_entries=64, show_spinner="Solving the random-features model...")(tcfg)
)
t2.markdown(
    rf"""$N$ random features $\phi = Fx$ of latent data with variances $k^{{-b}}$; readout fitted on the population
(infinite data). Markers/solid: exact simulation; dashed: theory. $b$ = {tcfg.b:.2f}, $r$ = {tcfg.r:.2f}.
For $r > 1$ a finite-$N$ embedding term ($\propto N^{{-1}} t^{{-(1-1/b)}}$) takes over late in $L(t)$, and near
$r = 1$ logarithms bend every fitted exponent."""
)
t2.dataframe(sf.exponent_table(theory), hide_index=True)
g1, g2, g3 = st.columns(3)
for col, which in zip((g1, g2, g3), "NtD"):
    run.chart(col.empty(), sf.rf_curves(theory, which))
p1, p2 = st.columns([3, 2])
run.chart(p1.empty(), sf.paquette_map(tcfg.b, tcfg.r))
ph = rf.paquette_phase(tcfg.b, tcfg.r)
p2.markdown(
    f"**Compute-optimal phases** (one-pass SGD, Paquette et al. 2024; $b = 2\\alpha$, "
    f"$r = (2\\alpha + 2\\beta - 1)/2\\alpha$). At the star: phase **{ph['phase'].item()}**, limited by "
    f"{ph['limits'].item()}"
    + (
        f"; $N^* \\sim C^{{{float(ph['xi']):.2f}}}$, $L^* \\sim C^{{-{float(ph['eta']):.2f}}}$."
        if np.isfinite(ph["xi"])
        else "."
    )
    + " Colour: the exponent of $N^*(C)$ where $b > 1$; $C^{1/2}$ (Chinchilla's answer) fills phase III. "
    "Left of $b = 1$ the spectrum is not summable and the learning rate must shrink with $N$ (phases Ib, Ic, IV)."
)

st.subheader("Eigenlearning: kernel regression's learning curve from its spectrum (digits)")
e1, e2 = st.columns([1, 3])
ecfg = controls.sidebar(
    eigenlearning.EigenConfig,
    ["kernel", "bandwidth", "ridge"],
    prefix="el_",
    container=e1,
    labels={"ridge": "ridge delta"},
)
eig = (
    panels["eigen"]
    if panels and ecfg == eigenlearning.EigenConfig()
    else st.cache_data(eigenlearning.digits_curves, max_entries=64, show_spinner="Kernel spectrum of 1,797 digits...")(
        ecfg
    )
)
e2.markdown(
    r"""Solve $\sum_i \frac{\lambda_i}{\lambda_i+\kappa} + \frac{\delta}{\kappa} = n$, then test MSE
$= \frac{n}{n - \sum_i L_i^2} \sum_i (1 - L_i)^2 v_i^2$ with learnabilities $L_i = \lambda_i/(\lambda_i+\kappa)$.
Spectrum $\lambda_i$ and target power $v_i^2$ from all 1,797 digits (the population); actual regression on random
subsets, error over the whole pool; loss in this page's convention."""
)
q1, q2 = e2.columns(2)
run.chart(q1.empty(), sf.eigen_curves(eig))
run.chart(q2.empty(), sf.eigen_spectrum(eig))
