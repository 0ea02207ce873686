"""Drop-in for the book's ``ch08/attention_layer``: WeightSum, AttentionWeight, Attention,
TimeAttention.

``TimeAttention`` runs every decoder step in one compiled kernel per direction, without the
book's (N, T, H) temporaries per step: the scores (sums over H in NumPy's pairwise order), the
softmax (in float64, rounded once: within 1 ULP), the weighted sum (over T in order); backward
likewise, with the encoder gradient summed over the decoder steps in the book's order. Only the
softmax differs from the book's bits. ``WeightSum`` and ``AttentionWeight`` are the book's
NumPy arithmetic (``AttentionWeight``'s softmax is fastact's).
"""

import numpy as np

from .._core.nlp import attention_backward, attention_forward
from . import _checks
from . import reference as _twin
from .layers import Softmax

__all__ = ["WeightSum", "AttentionWeight", "Attention", "TimeAttention"]


class WeightSum(_twin.WeightSum):
    """The book's (two products and two sums: nothing to fuse per step)."""


class AttentionWeight(_twin.AttentionWeight):
    _softmax = Softmax

    def forward(self, hs, h):  # the twin's, without its swap of the twins' global softmax
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H)
        a = self.softmax.forward(np.sum(hs * hr, axis=2))
        self.cache = (hs, hr)
        return a


class Attention(_twin.Attention):
    _attention_weight, _weight_sum = AttentionWeight, WeightSum


class TimeAttention:
    def __init__(self):
        self.params, self.grads = [], []
        self.layers = None  # the book's per-step Attention objects: not made here
        self.attention_weights = None
        self._cache = None

    def forward(self, hs_enc, hs_dec):
        where = "TimeAttention.forward: "
        hs_enc = _checks.array("hs_enc", hs_enc, 3, where)
        hs_dec = _checks.array("hs_dec", hs_dec, 3, where)
        N, T, H = hs_enc.shape
        if hs_dec.shape[0] != N or hs_dec.shape[2] != H or hs_dec.dtype != hs_enc.dtype:
            raise ValueError(
                f"{where}hs_dec {hs_dec.shape} {hs_dec.dtype} does not fit hs_enc {hs_enc.shape} {hs_enc.dtype}"
            )
        if T == 0:
            raise ValueError(f"{where}hs_enc has no time steps")
        Td = hs_dec.shape[1]
        a = np.empty((N, Td, T), dtype=hs_enc.dtype)
        out = np.empty_like(hs_dec)
        if Td and N and H:
            attention_forward(hs_enc, hs_dec, a, out, np.empty(H, hs_enc.dtype))
        else:
            out[...] = 0
            a[...] = 1 / T
        # The book's list of per-step (N, T) weights, as views of one array.
        self.attention_weights = [a[:, t, :] for t in range(Td)]
        self._cache = (hs_enc, hs_dec, a)
        return out

    def backward(self, dout):
        _checks.called(self, "_cache")
        hs_enc, hs_dec, a = self._cache
        dout = _checks.array("dout", dout, 3, "TimeAttention.backward: ")
        _checks.same_shape("dout", dout, hs_dec.shape, "TimeAttention.backward: ")
        N, T, H = hs_enc.shape
        dhs_enc = np.zeros_like(hs_enc)
        dhs_dec = np.empty_like(dout)
        if dout.dtype != hs_enc.dtype:
            dout = dout.astype(hs_enc.dtype)
        if dout.shape[1] and N and H:
            attention_backward(
                hs_enc, hs_dec, a, dout, dhs_enc, dhs_dec, np.empty(H, hs_enc.dtype), np.empty(T, hs_enc.dtype)
            )
        else:
            dhs_dec[...] = 0
        return dhs_enc, dhs_dec
