"""Plain-numpy reference implementations of the numeric core, written for clarity.

An *independent* port, written from the algorithm descriptions (MATLAB ``imresize`` /
``contributions`` / ``cubic``, MATLAB ``rgb2ycbcr``, Wang et al. 2004 SSIM), not from
``bench/``. Loops over output pixels are explicit on purpose: they are slow but easy to check
line by line against MATLAB's source. Everything is float64 numpy; nothing here imports torch.

MATLAB's imresize (bicubic, antialiasing on), per dimension:

    if scale < 1 and antialiasing: h(x) = scale * cubic(scale * x); width = 4 / scale
    else:                          h = cubic;                       width = 4
    x = 1:out_length (1-based output positions)
    u = x / scale + 0.5 * (1 - 1 / scale)      % output centre in input coordinates
    left = floor(u - width / 2)
    P = ceil(width) + 2                        % taps per output
    indices = left + (0:P-1)
    weights = h(u - indices); weights ./= sum(weights, 2)
    aux = [1:in_length, in_length:-1:1]        % symmetric mirroring
    indices = aux(mod(indices - 1, length(aux)) + 1)
    drop the columns whose weights are zero for every output

The dimension with the smaller scale is resized first (height first on ties); the scalar form
gives output size ``ceil(scale * n)``; the size form uses per-dim scales ``out / in``.
"""
from __future__ import annotations

import math

import numpy as np


def cubic(x):
    """Keys cubic convolution kernel, a = -0.5 (MATLAB ``cubic``)."""
    absx = np.abs(np.asarray(x, dtype=np.float64))
    absx2 = absx ** 2
    absx3 = absx ** 3
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((1 < absx) & (absx <= 2)))


def contributions(in_length, out_length, scale, antialiasing=True, drop_zero_columns=True):
    """MATLAB ``contributions``: (weights out×P, 0-based indices out×P, P before dropping).

    Row ``i`` of the result says: output ``i`` = sum_k weights[i, k] * input[indices[i, k]].
    """
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        def h(t):
            return scale * cubic(scale * t)
        kernel_width = kernel_width / scale
    else:
        h = cubic
    P = math.ceil(kernel_width) + 2
    aux = list(range(1, in_length + 1)) + list(range(in_length, 0, -1))
    weights = np.zeros((out_length, P))
    indices = np.zeros((out_length, P), dtype=np.int64)
    for i in range(out_length):                     # explicit loop over output pixels
        x = i + 1                                   # MATLAB is 1-based
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - kernel_width / 2)
        for k in range(P):
            j = left + k                            # 1-based, may be outside 1..in_length
            weights[i, k] = h(u - j)
            indices[i, k] = aux[(j - 1) % len(aux)] - 1   # mirror, then to 0-based
        weights[i] /= weights[i].sum()
    if drop_zero_columns:
        keep = np.any(weights != 0, axis=0)
        weights, indices = weights[:, keep], indices[:, keep]
    return weights, indices, P


def resize_along(a, axis, out_length, scale, antialiasing=True):
    """Resize numpy array ``a`` along ``axis`` (one MATLAB ``resizeAlongDim`` pass)."""
    a = np.asarray(a, dtype=np.float64)
    a = np.moveaxis(a, axis, -1)
    weights, indices, _ = contributions(a.shape[-1], out_length, scale, antialiasing)
    out = np.zeros(a.shape[:-1] + (out_length,))
    for i in range(out_length):                     # explicit loop over output pixels
        acc = np.zeros(a.shape[:-1])
        for k in range(weights.shape[1]):
            acc = acc + weights[i, k] * a[..., indices[i, k]]
        out[..., i] = acc
    return np.moveaxis(out, -1, axis)


def imresize(img, scale=None, size=None, antialiasing=True):
    """MATLAB ``imresize(img, scale)`` / ``imresize(img, [h w])``, bicubic, on the last two axes.

    Returns float64, not rounded (MATLAB would round only for uint8 input).
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    img = np.asarray(img, dtype=np.float64)
    in_h, in_w = img.shape[-2:]
    if scale is not None:
        scales = [float(scale), float(scale)]
        out_size = [math.ceil(scale * in_h), math.ceil(scale * in_w)]
    else:
        out_size = [int(size[0]), int(size[1])]
        scales = [out_size[0] / in_h, out_size[1] / in_w]
    # MATLAB: [~, order] = sort(scale) -- stable, so height first on a tie
    order = sorted(range(2), key=lambda d: scales[d])
    out = img
    for d in order:
        axis = img.ndim - 2 + d
        out = resize_along(out, axis, out_size[d], scales[d], antialiasing)
    return out


def round_half_away(x):
    """MATLAB rounding (half away from zero), as in double → uint8 conversion."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def to_uint8_values(x):
    """MATLAB ``uint8(x)``: saturate to [0, 255] and round half away from zero (as float64)."""
    return round_half_away(np.clip(x, 0, 255))


def rgb2ycbcr_y(rgb, rounded=True):
    """Y of MATLAB ``rgb2ycbcr`` for an RGB image in [0, 255] with channels on axis -3.

    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 ; uint8 input → uint8 output (rounded).
    Evaluated the way MATLAB does for uint8 input: ``T = origT / 255`` and
    ``imlincomb(T(1,1), R, T(1,2), G, T(1,3), B, 16)`` (= T11 R + T12 G + T13 B + 16 in double,
    then rounded). The float evaluation order matters for the uint8 result: ~94 of the 2^24 RGB
    triples give Y = k + 0.5 exactly, which another order can turn into k + 0.5 - 1ulp.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0, :, :], rgb[..., 1, :, :], rgb[..., 2, :, :]
    t = np.array([65.481, 128.553, 24.966]) / 255.0
    y = t[0] * r + t[1] * g + t[2] * b + 16.0
    return to_uint8_values(y) if rounded else y


def psnr(a, b, data_range=255.0, crop_border=0):
    """10 log10(R² / MSE) over all values after dropping ``crop_border`` on each side."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range ** 2 / mse)


def gaussian_window_2d(size=11, sigma=1.5):
    """The size×size Gaussian window, normalised to sum 1 (MATLAB fspecial('gaussian'))."""
    half = (size - 1) / 2
    w = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            w[i, j] = math.exp(-((i - half) ** 2 + (j - half) ** 2) / (2 * sigma ** 2))
    return w / w.sum()


def filter_valid(img, window):
    """2-D correlation with 'valid' output: only windows fully inside the image."""
    k = window.shape[0]
    h, w = img.shape
    out = np.zeros((h - k + 1, w - k + 1))
    for i in range(h - k + 1):                      # explicit loop over output rows
        for j in range(k):                          # and window rows
            # row i of the output, window row j: a 1-D correlation along the width
            row = img[i + j]
            for m in range(k):
                out[i] += window[j, m] * row[m:m + w - k + 1]
    return out


def ssim_plane(a, b, data_range=255.0, size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Mean SSIM of one 2-D plane (Wang et al. 2004), valid filtering, population statistics."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if min(a.shape) < size:
        raise ValueError("image smaller than the window")
    win = gaussian_window_2d(size, sigma)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mu_a = filter_valid(a, win)
    mu_b = filter_valid(b, win)
    var_a = filter_valid(a * a, win) - mu_a ** 2    # E[x²] - E[x]²: population variance
    var_b = filter_valid(b * b, win) - mu_b ** 2
    cov = filter_valid(a * b, win) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def ssim(a, b, data_range=255.0, crop_border=0, size=11, sigma=1.5):
    """Mean over channels of ``ssim_plane`` for (H,W) or (C,H,W) arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if a.ndim == 2:
        return ssim_plane(a, b, data_range, size, sigma)
    return float(np.mean([ssim_plane(a[c], b[c], data_range, size, sigma) for c in range(a.shape[0])]))
