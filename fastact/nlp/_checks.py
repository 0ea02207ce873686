"""Argument checks shared by the layers: each names the argument, and runs before any state
of the layer changes or any compiled kernel reads or writes memory."""

import operator

import numpy as np


def array(name, x, ndim=None, where=""):
    """``x`` as a float ndarray of ``ndim`` dimensions (a TypeError or ValueError otherwise)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}{name} must be a NumPy array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{where}{name} must be a float array (the book's float32), got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{where}{name} must be {ndim}-D, got shape {x.shape}")
    return x


def ids(name, idx, vocab, where=""):
    """Word ids as an int64 array of idx's shape, every one in [-vocab, vocab) as NumPy's
    indexing allows (IndexError otherwise, as NumPy raises)."""
    if not isinstance(idx, np.ndarray):
        try:
            operator.index(idx)
        except TypeError:
            pass
        else:
            idx = np.asarray(idx)
        if not isinstance(idx, np.ndarray):
            idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{where}{name} must hold integer word ids, got dtype {idx.dtype}")
    # Always a copy: the layers keep it for backward, where a compiled kernel trusts the
    # range checked here (the caller's array may change in between).
    out = np.array(idx, dtype=np.int64)
    if out.size:
        lo, hi = int(out.min()), int(out.max())
        if lo < -vocab or hi >= vocab:
            bad = lo if lo < -vocab else hi
            raise IndexError(f"{where}{name}: index {bad} is out of bounds for a vocabulary of size {vocab}")
    return out


def same_shape(name, x, shape, where=""):
    if x.shape != tuple(shape):
        raise ValueError(f"{where}{name} must have shape {tuple(shape)}, got {x.shape}")


def called(layer, attribute, method="forward"):
    if getattr(layer, attribute) is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before {method}")


def params(where, params, gates):
    """Wx (D, gates*H), Wh (H, gates*H), b (gates*H,): the shapes the kernels index by."""
    Wx, Wh, b = params
    for name, p in (("Wx", Wx), ("Wh", Wh), ("b", b)):
        array(name, p, 1 if name == "b" else 2, f"{where}: ")
    H = Wh.shape[0]
    if Wh.shape[1] != gates * H or Wx.shape[1] != gates * H or b.shape[0] != gates * H:
        raise ValueError(
            f"{where}: the parameters must be Wx (D, {gates}H), Wh (H, {gates}H), b ({gates}H,); "
            f"got {Wx.shape}, {Wh.shape}, {b.shape}"
        )
    return H


def rows(where, **arrays):
    """2-D arrays with one row count (the kernels loop over the first one's rows)."""
    n = None
    for name, a in arrays.items():
        a = array(name, a, 2, f"{where}: ")
        if n is not None and a.shape[0] != n:
            raise ValueError(f"{where}: {name} has {a.shape[0]} rows, expected {n}")
        n = a.shape[0]
