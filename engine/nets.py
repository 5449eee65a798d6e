"""MLP ``init``/``apply`` pairs with the standard, NTK and muP parametrizations.

Conventions (fixed for every lab):
- ``depth`` = number of hidden layers (a depth-2 MLP has three weight matrices).
- standard: W ~ N(0, s^2 / fan_in), forward multiplier 1 (s = ``init_scale``).
- ntk: W ~ N(0, s^2), forward multiplier 1/sqrt(fan_in).
- mup (as the microsoft/mup package implements it, width_mult = width / base_width):
  input and hidden weights initialised as standard; the readout weights start at the
  standard std times sqrt(width_mult) and the readout divides its input by width_mult
  (mup's ``MuReadout`` after ``set_base_shapes(rescale_params=True)``: effective readout
  variance base_width / width^2). Per-layer learning-rate scales (``lr_scales``): SGD
  multiplies vector-like parameters (input weights, hidden biases, readout weights: one
  dimension grows with width) by width_mult and leaves the readout bias (fixed size) at 1;
  Adam divides matrix-like (hidden) ones by width_mult (Tensor Programs V, Tables 3 and 8).
  At width == base_width muP and standard coincide.
Biases start at zero. Params are a list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "linear": lambda z: z,
}
PARAMETRIZATIONS = ("standard", "ntk", "mup")


@dataclass(frozen=True)
class MLP:
    """Shape and parametrization of a fully connected network (static: not traced)."""

    d_in: int
    width: int
    depth: int  # hidden layers
    d_out: int
    activation: str = "tanh"
    parametrization: str = "standard"
    base_width: int = 64  # muP reference width (width_mult = width / base_width)
    bias: bool = True

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r}: choose one of {sorted(ACTIVATIONS)}")
        if self.parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"parametrization={self.parametrization!r}: choose one of {PARAMETRIZATIONS}")
        if self.depth < 0 or self.width < 1:
            raise ValueError("depth must be >= 0 and width >= 1")

    @property
    def sizes(self) -> list[int]:
        return [self.d_in] + [self.width] * self.depth + [self.d_out]

    @property
    def width_mult(self) -> float:
        return self.width / self.base_width

    def n_params(self) -> int:
        s = self.sizes
        return sum(a * b + (b if self.bias else 0) for a, b in zip(s[:-1], s[1:]))

    def forward_flops(self, n: int) -> float:
        """Multiply-adds x 2 of one forward pass over n inputs."""
        s = self.sizes
        return 2.0 * n * sum(a * b for a, b in zip(s[:-1], s[1:]))


def _multipliers(spec: MLP) -> list[float]:
    s = spec.sizes
    n_layers = len(s) - 1
    out = []
    for i in range(n_layers):
        fan_in = s[i]
        m = 1.0 / fan_in**0.5 if spec.parametrization == "ntk" else 1.0
        if spec.parametrization == "mup" and i == n_layers - 1 and spec.depth > 0:
            m = 1.0 / spec.width_mult
        out.append(m)
    return out


def init(key: jax.Array, spec: MLP, init_scale: float | jax.Array = 1.0) -> list[dict]:
    """Random parameters; ``init_scale`` multiplies every weight's standard deviation."""
    s = spec.sizes
    keys = jax.random.split(key, len(s) - 1)
    params = []
    for i, (k, a, b) in enumerate(zip(keys, s[:-1], s[1:])):
        std = 1.0 if spec.parametrization == "ntk" else 1.0 / a**0.5
        if spec.parametrization == "mup" and i == len(s) - 2 and spec.depth > 0:
            std *= spec.width_mult**0.5  # MuReadout._rescale_parameters
        w = init_scale * std * jax.random.normal(k, (a, b), jnp.float32)
        layer = {"w": w}
        if spec.bias:
            layer["b"] = jnp.zeros((b,), jnp.float32)
        params.append(layer)
    return params


def apply(params: list[dict], x: jax.Array, spec: MLP, return_preacts: bool = False):
    """Network output (n, d_out); with ``return_preacts`` also each layer's pre-activation."""
    act = ACTIVATIONS[spec.activation]
    mults = _multipliers(spec)
    h = x
    pre = []
    for i, (layer, m) in enumerate(zip(params, mults)):
        z = m * (h @ layer["w"])
        if "b" in layer:
            z = z + jnp.broadcast_to(layer["b"], z.shape)
        pre.append(z)
        h = act(z) if i < len(params) - 1 else z
    return (h, pre) if return_preacts else h


def make(spec: MLP) -> tuple[Callable, Callable]:
    """The ``(init_fn(key, init_scale=1.0), apply_fn(params, x))`` pair for ``spec``."""
    return (lambda key, init_scale=1.0: init(key, spec, init_scale)), (lambda p, x: apply(p, x, spec))


def centered(apply_fn: Callable, params0, alpha: float | jax.Array) -> Callable:
    """F(params, x) = alpha * (f(params, x) - f(params0, x)) (Chizat et al.: output scale alpha)."""
    return lambda p, x: alpha * (apply_fn(p, x) - jax.lax.stop_gradient(apply_fn(params0, x)))


def lr_scales(spec: MLP, optimizer: str) -> list[dict]:
    """Per-parameter learning-rate multipliers (all 1 except under muP)."""
    n_layers = len(spec.sizes) - 1
    out = []
    for i in range(n_layers):
        wm = spec.width_mult
        is_matrix = 0 < i < n_layers - 1  # hidden-to-hidden: both dims grow with width
        if spec.parametrization != "mup" or spec.depth == 0:
            sw = sb = 1.0
        elif optimizer == "adam":
            sw, sb = (1.0 / wm if is_matrix else 1.0), 1.0
        else:  # sgd / momentum; the readout bias has no width dimension: x1
            sw, sb = (1.0 if is_matrix else wm), (1.0 if i == n_layers - 1 else wm)
        layer = {"w": sw}
        if spec.bias:
            layer["b"] = sb
        out.append(layer)
    return out
