"""MATLAB-compatible ``imresize`` (bicubic, antialiased) in torch.

Follows MATLAB's algorithm exactly: Keys cubic kernel with a = -0.5; for downscaling with
antialiasing the kernel is stretched by 1/scale (``h(x) = scale·cubic(scale·x)``, width
4/scale); output sample ``i`` (1-based) sits at ``u = i/scale + (1 - 1/scale)/2`` in input
coordinates; each output takes ``P = ceil(width) + 2`` taps starting at
``floor(u - width/2)``; weights are normalised to sum to one; out-of-range taps are
mirrored symmetrically (``[1..n, n..1]``); the dimension with the smaller scale is
resized first (height first when equal). Computation is float64 by default, as MATLAB's.

Each 1-D pass is a product with an ``out×in`` matrix holding those weights (BLAS-fast);
``contributions`` exposes the taps themselves for tests and inspection. When every value
the two passes can produce is exact in float64 (8-bit input, dyadic weights: x2, x4, x8),
any order of work gives MATLAB's bits, so the products skip the matrix's zero band, the
column pass runs on the smaller of the two images and the first pass runs in float32 when
it is exact there too (same bits, a fraction of the work).
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor


def cubic(x: Tensor) -> Tensor:
    """Keys bicubic kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float,
                  antialias: bool = True) -> tuple[Tensor, Tensor]:
    """Weights (out_len×P, float64) and 0-based input indices (out_len×P) of one pass."""
    width = 4.0
    stretch = antialias and scale < 1
    if stretch:
        width = width / scale
    u = torch.arange(1, out_len + 1, dtype=torch.float64) / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = u[:, None] - idx
    w = scale * cubic(scale * dist) if stretch else cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    # symmetric mirroring of 1-based indices: aux = [1..n, n..1]
    period = 2 * in_len
    m = torch.remainder(idx.long() - 1, period)
    idx0 = torch.where(m < in_len, m, period - 1 - m)
    keep = (w != 0).any(dim=0)  # MATLAB drops all-zero columns; harmless but cheaper
    return w[:, keep].contiguous(), idx0[:, keep].contiguous()


@lru_cache(maxsize=256)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> Tensor:
    """The out_len×in_len matrix of one pass (mirrored taps folded in), float64.

    Applying a pass as a dense matrix product is ~10x faster on CPU than gathering the
    taps, because it runs in BLAS; the extra zeros cost less than the gather's memory
    traffic at benchmark image sizes.
    """
    w, idx = contributions(in_len, out_len, scale, antialias)
    m = torch.zeros(out_len, in_len, dtype=torch.float64)
    return m.scatter_add_(1, idx, w)


def _matrix(in_len: int, out_len: int, scale: float, antialias: bool, device: torch.device,
            dtype: torch.dtype) -> Tensor:
    return resize_matrix(in_len, out_len, scale, antialias).to(device=device, dtype=dtype)


# output rows per block of a banded pass
BAND_ROWS = 32
_MAX_FRACTION_BITS = 24


@lru_cache(maxsize=256)
def pass_structure(in_len: int, out_len: int, scale: float, antialias: bool = True
                   ) -> tuple[int | None, int, tuple[tuple[int, int, int, int], ...]]:
    """What makes a pass's banded form exact: ``(fraction_bits, sum_bits, blocks)``.

    ``fraction_bits``: the smallest k with every weight a multiple of 2^-k (None when some
    weight is not such a dyadic number, e.g. at x3). ``sum_bits``: ceil(log2) of the
    largest row sum of |weights|. ``blocks``: ``(r0, r1, c0, c1)`` row blocks of
    :data:`BAND_ROWS` output rows and the input rows ``c0:c1`` holding their nonzero
    weights; ``()`` when the band saves less than half of the dense work.
    """
    m = resize_matrix(in_len, out_len, scale, antialias)
    bits = next((k for k in range(_MAX_FRACTION_BITS + 1)
                 if torch.equal(m * 2.0 ** k, torch.round(m * 2.0 ** k))), None)
    sum_bits = max(0, math.ceil(math.log2(float(m.abs().sum(dim=1).max()))))
    nz = m != 0
    blocks = []
    for r0 in range(0, out_len, BAND_ROWS):
        r1 = min(out_len, r0 + BAND_ROWS)
        cols = nz[r0:r1].any(dim=0).nonzero()
        blocks.append((r0, r1, int(cols[0]), int(cols[-1]) + 1))
    banded = sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in blocks)
    return bits, sum_bits, tuple(blocks) if 2 * banded <= out_len * in_len else ()


def _banded(x: Tensor, m: Tensor, blocks: tuple[tuple[int, int, int, int], ...],
            dim: int) -> Tensor:
    """``m @ x`` (dim -2) or ``x @ m.T`` (dim -1), each block of output rows a product with
    only the input rows its weights touch."""
    if dim == -2:
        out = x.new_empty(*x.shape[:-2], m.shape[0], x.shape[-1])
        for r0, r1, c0, c1 in blocks:
            torch.matmul(m[r0:r1, c0:c1], x[..., c0:c1, :], out=out[..., r0:r1, :])
        return out
    out = x.new_empty(*x.shape[:-1], m.shape[0])
    mt = m.T
    for r0, r1, c0, c1 in blocks:
        torch.matmul(x[..., c0:c1], mt[c0:c1, r0:r1], out=out[..., r0:r1])
    return out


def _value_bits(x: Tensor) -> int | None:
    """``a`` such that every value of ``x`` is an integer with ``|v| < 2^a``; None when
    that is not known (non-integer values, non-float64 floats, meta tensors, empty)."""
    if x.device.type == "meta" or not x.numel():
        return None  # (meta: no values to check; shape-only runs count the dense products)
    if x.dtype == torch.uint8:
        return 8  # the common case, known from the type: no pass over the image
    if x.is_floating_point():
        if x.dtype != torch.float64:
            return None
        peak = float(x.abs().max())
        if not math.isfinite(peak) or not torch.equal(x, torch.trunc(x)):
            return None
    elif x.dtype == torch.bool or x.is_complex():
        return None
    else:
        lo, hi = torch.aminmax(x)
        peak = float(max(abs(int(lo)), abs(int(hi))))
    return math.ceil(math.log2(peak + 1))


def _exact_bits(x: Tensor, first: tuple[int | None, int, tuple],
                second: tuple[int | None, int, tuple]) -> int | None:
    """The value bits of ``x`` (see :func:`_value_bits`) when both passes, in this order, can
    only compute exact values, so any order of summation (dense BLAS or banded) gives the
    same bits: integer input below ``2^bits``, dyadic weights, and magnitude bits + fraction
    bits of every partial sum within the 53-bit significand (row sums of |w| < 2^b1, 2^b2;
    values multiples of 2^-(k1+k2)). None otherwise, and when no band would pay."""
    if first[0] is None or second[0] is None or not (first[2] or second[2]):
        return None  # rounding weights (x3...), or small: decided before looking at values
    bits = _value_bits(x)
    if bits is None or bits + first[1] + second[1] + first[0] + second[0] > 52:
        return None
    return bits


def _float32_exact(bits: int, first: tuple[int | None, int, tuple], like: Tensor) -> bool:
    """True when the first pass is also exact in float32 (24-bit significand) and float32
    products are IEEE single precision here (CPU; no TF32/bf16 shortcuts allowed)."""
    assert first[0] is not None
    return (like.device.type == "cpu" and torch.get_float32_matmul_precision() == "highest"
            and bits + first[1] + first[0] <= 23)


def imresize(x: Tensor, scale: float | None = None, size: tuple[int, int] | None = None,
             antialias: bool = True) -> Tensor:
    """Resize the last two dims (H, W) of ``x`` like MATLAB ``imresize(x, scale, 'bicubic')``.

    Args:
        x: tensor of shape (..., H, W); integer tensors are resized as float64 values (uint8
            is the fast path: its values are known to be 8-bit integers without a check).
        scale: one factor for both dims (MATLAB's scalar form); output size is
            ``ceil(scale·H) × ceil(scale·W)``.
        size: output (H, W) instead of ``scale``; per-dim scales are then ``out/in``.
        antialias: stretch the kernel when downscaling (MATLAB's default).

    Returns:
        float tensor (float64 for integer input) of shape (..., H', W'), not rounded.
    """
    if (scale is None) == (size is None):
        raise ValueError("imresize: give exactly one of scale or size")
    if x.dim() < 2:
        raise ValueError(f"imresize: expected a tensor (..., H, W), found shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if size is not None:
        out_h, out_w = size
        scales = (out_h / h, out_w / w)
    else:
        assert scale is not None
        if scale <= 0:
            raise ValueError(f"imresize: scale must be positive, found {scale}")
        scales = (scale, scale)
        out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    # MATLAB resizes along the dimension with the smallest scale first (stable: H first).
    # Both passes are linear, so the order only matters through floating-point rounding.
    sh = pass_structure(h, out_h, scales[0], antialias)
    sw = pass_structure(w, out_w, scales[1], antialias)
    # Exact arithmetic (x2/x4/x8 on 8-bit values) gives MATLAB-order bits whatever the
    # order, precision or grouping, so: the column pass (strided, slow) runs on the smaller
    # image, the first pass in float32 where that is still exact, and the products skip
    # the matrices' zero band.
    cols_first = out_h > h
    first, second = (sw, sh) if cols_first else (sh, sw)
    bits = _exact_bits(x, first, second)
    if bits is not None:
        f64, dtype = torch.float64, torch.float32 if _float32_exact(bits, first, x) else torch.float64
        t = x.to(dtype, memory_format=torch.contiguous_format)
        mh = _matrix(h, out_h, scales[0], antialias, x.device, f64 if cols_first else dtype)
        mw = _matrix(w, out_w, scales[1], antialias, x.device, dtype if cols_first else f64)

        def rows(t: Tensor) -> Tensor:
            return _banded(t, mh, sh[2], -2) if sh[2] else torch.matmul(mh, t)

        def cols(t: Tensor) -> Tensor:
            return _banded(t, mw, sw[2], -1) if sw[2] else torch.matmul(t, mw.T)

        if cols_first:
            return rows(cols(t).to(torch.float64))
        return cols(rows(t).to(torch.float64))
    if not x.is_floating_point():
        x = x.to(torch.float64)
    mh = _matrix(h, out_h, scales[0], antialias, x.device, x.dtype)
    mw = _matrix(w, out_w, scales[1], antialias, x.device, x.dtype)
    if scales[0] <= scales[1]:
        return torch.matmul(torch.matmul(mh, x), mw.T)
    return torch.matmul(mh, torch.matmul(x, mw.T))
