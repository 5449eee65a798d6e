"""A model zoo on the 8x8 digits: MLPs and small conv nets, trained together, seen layer by layer,
and compared pair by pair (:func:`pairwise`, built on engine.kernels' metrics).

Every architecture is an :class:`Arch` with an ``init(rng) -> params`` and a
``features(params, x) -> [layer representations]`` pair: the hidden layers after their
nonlinearity, then the logits. The seeds of one architecture train as one stacked pytree:
the loss is the sum of the seeds' losses and Adam is elementwise, so each seed follows
exactly the trajectory it would follow alone, in one compiled program (no per-seed compile).

Loss: L = (1/2m) sum_i ||f(x_i) - y_i||^2 against one-hot labels (engine.train.mse), full-batch
Adam. Convolutions are 3x3 with padding 1, written as shifted slices + one matmul: on XLA:CPU
this is ~4x faster to train than ``lax.conv_general_dilated`` (whose filter gradient is slow
there) and equal to it (tests check the two agree).
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from engine import kernels, nets, train

FAMILIES = ("MLP", "Conv")


@dataclass(frozen=True)
class Arch:
    """One architecture of the zoo (static shapes).

    MLP: ``width`` hidden units in each of ``depth`` hidden layers (engine.nets, standard init).
    Conv: conv 3x3 (``width`` channels) -> conv 3x3 stride 2 (2 x width) -> dense (8 x width)
    -> 10 logits; ``depth`` is ignored. Both use ``activation`` between layers.
    """

    family: str
    width: int
    depth: int = 1
    activation: str = "relu"

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family={self.family!r}: choose one of {FAMILIES}")
        if self.activation not in nets.ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r}: choose one of {sorted(nets.ACTIVATIONS)}")

    @property
    def label(self) -> str:
        if self.family == "Conv":
            return f"Conv {self.activation} {self.width}-{2 * self.width}"
        return f"MLP {self.activation} {self.width}x{self.depth}"

    @property
    def mlp(self) -> nets.MLP:
        return nets.MLP(64, self.width, self.depth, 10, self.activation)

    def layer_names(self) -> list[str]:
        if self.family == "Conv":
            return ["conv 1", "conv 2", "dense", "logits"]
        return [f"hidden {i + 1}" for i in range(self.depth)] + ["logits"]

    def forward_flops(self, n: int) -> float:
        """Multiply-adds x 2 of one forward pass over n images."""
        if self.family == "MLP":
            return self.mlp.forward_flops(n)
        c = self.width
        return 2.0 * n * (64 * 9 * c + 16 * 9 * c * 2 * c + 32 * c * 8 * c + 8 * c * 10)

    def init(self, rng: np.random.Generator) -> dict | list:
        """Standard init (as engine.nets): weights N(0, 1/fan_in), biases 0; numpy float32.

        Drawn with numpy: jax.random's init would compile for seconds per shape on a CPU.
        """

        def w(shape, fan_in):
            return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

        z = lambda m: np.zeros((m,), np.float32)  # noqa: E731
        if self.family == "MLP":
            s = self.mlp.sizes
            return [{"w": w((a, b), a), "b": z(b)} for a, b in zip(s[:-1], s[1:])]
        c = self.width
        return {
            "conv1": {"w": w((3, 3, 1, c), 9), "b": z(c)},
            "conv2": {"w": w((3, 3, c, 2 * c), 9 * c), "b": z(2 * c)},
            "dense": {"w": w((32 * c, 8 * c), 32 * c), "b": z(8 * c)},
            "out": {"w": w((8 * c, 10), 8 * c), "b": z(10)},
        }

    def features(self, params, x: jax.Array) -> list[jax.Array]:
        """Representations of x (n, 64): each hidden layer after its nonlinearity (flattened), then logits."""
        act = nets.ACTIVATIONS[self.activation]
        if self.family == "MLP":
            out, pre = nets.apply(params, x, self.mlp, return_preacts=True)
            return [act(z) for z in pre[:-1]] + [out]
        p = {k: (v["w"], v["b"][None, None, None] if k.startswith("conv") else v["b"][None]) for k, v in params.items()}
        h1 = act(conv3x3(x.reshape(-1, 8, 8, 1), p["conv1"][0], 1) + p["conv1"][1])  # explicit bias broadcast
        h2 = act(conv3x3(h1, p["conv2"][0], 2) + p["conv2"][1])
        flat2 = h2.reshape(h2.shape[0], -1)
        h3 = act(flat2 @ p["dense"][0] + p["dense"][1])
        out = h3 @ p["out"][0] + p["out"][1]
        return [h1.reshape(h1.shape[0], -1), flat2, h3, out]

    def apply(self, params, x: jax.Array) -> jax.Array:
        return self.features(params, x)[-1]


ZOOS: dict[str, tuple[Arch, ...]] = {
    # widths, depths, activations and a second family; the narrow nets give a spread of accuracy
    "mixed": (Arch("MLP", 256, 2), Arch("MLP", 64, 1), Arch("MLP", 128, 1, "tanh"), Arch("MLP", 32, 2, "gelu"))
    + (Arch("MLP", 8, 1), Arch("MLP", 4, 1), Arch("Conv", 8)),
    "small": (Arch("MLP", 64, 1), Arch("MLP", 32, 2, "tanh"), Arch("MLP", 4, 1), Arch("Conv", 4)),
    "widths": tuple(Arch("MLP", w, 1) for w in (2, 4, 8, 16, 32, 64, 128, 256)),
    "families": (Arch("MLP", 128, 1), Arch("MLP", 64, 2, "tanh"), Arch("MLP", 16, 1))
    + (Arch("Conv", 8), Arch("Conv", 4, activation="tanh"), Arch("Conv", 2)),
}


def model_list(zoo: str, n_seeds: int, untrained: bool) -> list[tuple[Arch, int, bool]]:
    """(architecture, seed, trained) of every model, ordered by family, trained before untrained."""
    archs = ZOOS[zoo]
    out = []
    for trained in (True, False):
        if not trained and not untrained:
            continue
        for fam in ("MLP", "Conv"):
            for a in archs:
                if a.family == fam:
                    out += [(a, s, trained) for s in (range(n_seeds) if trained else [0])]
    return out


def model_name(arch: Arch, seed: int, trained: bool) -> str:
    return f"{arch.label} s{seed}" if trained else f"{arch.label} untrained"


def layer_index(arch: Arch, layer: str) -> int:
    n = len(arch.layer_names())
    return {"first": 0, "penultimate": n - 2, "logits": n - 1}[layer]


def conv3x3(z: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """3x3 convolution, padding 1: z (n, H, W, C), w (3, 3, C, C_out) HWIO -> (n, H/stride, W/stride, C_out).

    Equals ``lax.conv_general_dilated(z, w, (stride, stride), ((1, 1), (1, 1)),
    dimension_numbers=("NHWC", "HWIO", "NHWC"))``, as 9 shifted slices and one matmul.
    """
    n, h, wd, c = z.shape
    zp = jnp.pad(z, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = [zp[:, i : i + h : stride, j : j + wd : stride, :] for i in range(3) for j in range(3)]
    return jnp.concatenate(cols, axis=-1) @ w.reshape(9 * c, w.shape[-1])


def model_rng(seed: int, arch: Arch, s: int) -> np.random.Generator:
    """Generator of seed ``s`` of ``arch``: the same model in every zoo that contains it."""
    return np.random.default_rng([seed, zlib.crc32(arch.label.encode()), s])


def init_stack(arch: Arch, seeds: list[int], base_seed: int):
    """Parameters of the given seeds stacked on a leading axis (numpy float32)."""
    ps = [arch.init(model_rng(base_seed, arch, s)) for s in seeds]
    return jax.tree.map(lambda *a: np.stack(a), *ps)


def snapshot_steps(steps: int, n_snapshots: int, chunk: int) -> np.ndarray:
    """0 and roughly log-spaced multiples of ``chunk`` up to ``steps`` (learning is fastest early)."""
    if steps <= chunk or n_snapshots <= 2:
        return np.array([0, steps])
    s = np.round(np.geomspace(chunk, steps, n_snapshots - 1)[:-1] / chunk).astype(int) * chunk
    return np.unique(np.concatenate([[0], np.clip(s, chunk, steps - 1), [steps]]))


def train_group(
    arch: Arch,
    seeds: list[int],
    base_seed: int,
    ds,
    *,
    steps: int,
    lr: float,
    n_probe: int,
    n_snapshots: int = 5,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Train the seeds of one architecture together; record representations at snapshots.

    ds: an engine.data.Dataset (x_train, y_train one-hot, x_test, y_test); the probe set is the
    first ``n_probe`` test images. Returns a dict with ``steps`` (S,) snapshot steps,
    ``reps``: one array per layer (n_seeds, S, n_probe, dim) float32, ``accuracy``
    (n_seeds, S) on the whole test set; ``untrained_reps`` (one (n_probe, dim) per layer) and
    ``untrained_accuracy`` of an untrained network of seed n_seeds (the baseline); ``loss`` the
    final training loss summed over seeds, ``diverged`` bool and ``diverged_step`` (-1 if none).
    """
    chunk = max(1, steps // 30)
    snaps = snapshot_steps(steps, n_snapshots, chunk)
    params0 = jax.tree.map(jnp.asarray, init_stack(arch, seeds, base_seed))
    per_model = train.mse(arch.apply)

    def loss(p, x, y):  # sum over seeds: each seed's gradient (and Adam step) is its own
        return jnp.sum(jax.vmap(per_model, in_axes=(0, None, None))(p, x, y))

    captured = {0: params0}

    def on_chunk(fraction: float, tr: train.TrainResult) -> None:
        done = int(round(fraction * steps))
        if done in set(snaps.tolist()):
            captured[done] = tr.params
        if progress is not None:
            progress(0.9 * fraction)

    tr = train.train(
        loss,
        params0,
        train.make_optimizer("adam", lr),
        ds.x_train,
        ds.y_train,
        steps=steps,
        record_at=np.array([0, steps]),
        chunk=chunk,
        progress=on_chunk,
    )
    captured[steps] = tr.params  # also the frozen parameters of a diverged run
    last = tr.params
    feats = _features_fn(arch)
    xt = jnp.asarray(ds.x_test)
    labels = np.asarray(ds.y_test).argmax(1)
    reps = [[] for _ in arch.layer_names()]
    acc = []
    # the untrained baseline: fresh seeds (not any trained model's own init), evaluated in the
    # trained seeds' shape so the compiled features serve; the first is kept
    fresh = jax.tree.map(jnp.asarray, init_stack(arch, [len(seeds) + i for i in range(len(seeds))], base_seed))
    for s in [*snaps, -1]:
        p = fresh if s < 0 else captured.get(int(s), last)
        layers = [np.asarray(r, np.float32) for r in feats(p, xt)]
        for i, r in enumerate(layers):
            reps[i].append(r[:, :n_probe])
        acc.append((layers[-1].argmax(-1) == labels).mean(-1))
    untrained = [r.pop()[0] for r in reps]
    untrained_acc = float(acc.pop()[0])
    if progress is not None:
        progress(1.0)
    return {
        "steps": snaps,
        "reps": [np.stack(r, axis=1) for r in reps],
        "accuracy": np.stack(acc, axis=1),
        "untrained_reps": untrained,
        "untrained_accuracy": untrained_acc,
        "loss": float(tr.loss[-1]) if len(tr.loss) else float("nan"),
        "diverged": bool(tr.diverged),
        "diverged_step": int(tr.diverged_step),
    }


_FEATS: dict = {}


def _features_fn(arch: Arch) -> Callable:
    if arch not in _FEATS:
        _FEATS[arch] = jax.jit(jax.vmap(arch.features, in_axes=(0, None)))
    return _FEATS[arch]


def train_zoo(
    archs: tuple[Arch, ...],
    n_seeds: int,
    base_seed: int,
    ds,
    *,
    steps: int,
    lr: float,
    n_probe: int,
    n_snapshots: int,
    progress: Callable[[float, list], None] | None = None,
) -> list[dict]:
    """:func:`train_group` for every architecture (seeds 0..n_seeds-1); one group per local device at a time.

    On a CPU with one host device per core (engine.backend) two architectures compile and train
    side by side. ``progress(fraction, groups)`` after every training chunk; ``groups`` holds the
    finished groups' dicts (None for the others), so a caller can draw the models that are done.
    """
    # fraction by estimated work: training FLOPs plus a fixed compile cost per architecture
    work = np.array([3.0 * steps * n_seeds * a.forward_flops(ds.x_train.shape[0]) + 3e10 for a in archs])
    share = work / work.sum()
    frac = np.zeros(len(archs))
    groups: list = [None] * len(archs)
    lock = threading.Lock()
    free = queue.SimpleQueue()  # each running group holds one device
    for d in jax.local_devices():
        free.put(d)
    kw = {"steps": steps, "lr": lr, "n_probe": n_probe, "n_snapshots": n_snapshots}

    def one(i: int) -> None:
        def on(f):
            with lock:
                frac[i] = f
                if progress is not None:
                    progress(float(share @ frac), groups)

        dev = free.get()
        try:
            with jax.default_device(dev):
                g = train_group(archs[i], list(range(n_seeds)), base_seed, ds, progress=on, **kw)
        finally:
            free.put(dev)
        with lock:
            groups[i] = g
        on(1.0)

    with ThreadPoolExecutor(max(1, min(len(jax.local_devices()), len(archs)))) as pool:
        list(pool.map(one, range(len(archs))))
    return groups


# ---------------------------------------------------------------- comparing representations


def _perms(n: int, n_perm: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    return [rng.permutation(n) for _ in range(n_perm)]


def _prepare(metric: str, X, k: int, clip: bool):
    """What one representation brings to every pair: its centered Gram (and self-HSIC), or its k-NN mask."""
    X = kernels.as_float64(X)
    if metric == "knn":
        return kernels.knn_mask(kernels.clip_abs_quantile(X, 0.95) if clip else X, k)
    Xc = X - X.mean(0)
    K = Xc @ Xc.T  # linear CKA = <K, L>_F / (|K| |L|) (kernels.linear_cka's Gram form)
    return (K, kernels.hsic_unbiased(K, K)) if metric == "cka_unbiased" else K


def _permute(metric: str, a, perm: np.ndarray):
    """The prepared form of X[perm]: Grams and neighbour masks permute on both axes.

    (For masks this equals recomputing the neighbours of X[perm] except for exact ties in
    similarity, which a random baseline need not break the same way.)
    """
    if metric == "cka_unbiased":
        return a[0][np.ix_(perm, perm)], a[1]
    return a[np.ix_(perm, perm)]


def _score(metric: str, a, b, k: int) -> float:
    """The metric from two prepared representations (as the last lines of engine.kernels' functions)."""
    if metric == "knn":
        return float(np.mean((a & b).sum(1) / k))
    if metric == "cka":
        return 1.0 - kernels.kernel_distance(a, b)
    (K, kk), (L, ll) = a, b
    denom = np.sqrt(max(kk, 0.0) * max(ll, 0.0))
    return kernels.hsic_unbiased(K, L) / denom if denom > 0 else float("nan")


def pairwise(metric: str, reps: list, reps_b: list | None = None, *, k: int = 10, clip: bool = False, perms=()):
    """All-pairs ``metric`` ("cka", "cka_unbiased" or "knn") between representations (n, p_i).

    Each representation is prepared once (a Gram matrix or a neighbour mask) instead of once
    per pair; the numbers are those of linear_cka / mutual_knn on each pair. Returns
    (sim, null_mean, null_std), (Ma, Mb) each: sim[i, j] = metric(reps[i], reps_b[j]); the null
    averages metric(reps[i], reps_b[j][perm]) over ``perms`` (NaN without). reps_b None: symmetric.
    """
    sym = reps_b is None
    pa = [_prepare(metric, X, k, clip) for X in reps]
    pb = pa if sym else [_prepare(metric, X, k, clip) for X in reps_b]
    todo = [(i, j) for i in range(len(pa)) for j in range(len(pb)) if not sym or i <= j]
    sim = np.full((len(pa), len(pb)), np.nan)
    nulls = np.full((max(len(perms), 1),) + sim.shape, np.nan)
    for i, j in todo:
        sim[i, j] = _score(metric, pa[i], pb[j], k)
    for t, perm in enumerate(perms):
        for j in range(len(pb)):
            q = _permute(metric, pb[j], perm)
            for i in range(len(pa)):
                if not sym or i <= j:
                    nulls[t, i, j] = _score(metric, pa[i], q, k)
    if sym:
        sim, nulls = _mirror(sim), np.stack([_mirror(m) for m in nulls])
    return sim, nulls.mean(0), (nulls.std(0) if len(perms) else nulls[0])


def _mirror(m: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(m), m.T, m)


def _offdiag_mean(m: np.ndarray, axis_rows: bool = False):
    """Mean over i != j of (M, M) (or per row with axis_rows: (..., M, M) -> (..., M))."""
    n = m.shape[-1]
    off = ~np.eye(n, dtype=bool)
    if axis_rows:
        return np.where(off, m, 0.0).sum(-1) / (n - 1) if n > 1 else np.full(m.shape[:-1], np.nan)
    return float(np.mean(m[off])) if n > 1 else float("nan")
