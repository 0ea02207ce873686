"""Compiled kernels of ``fastact.nlp``: the element-wise work around the book's matmuls.

Every name ``fastact.nlp`` takes from the rest of fastact is imported here, in one block.

The kernels are serial: at the book's sizes (rows of 16-650) a step's element-wise work is
tens of microseconds, below what a parallel region costs to enter on a shared 2-core machine.
Sums that the book leaves to NumPy are either left to NumPy or written in NumPy's own order:
``sequential`` (a reduction over an outer axis adds the slices in order) and ``pairwise`` (a
reduction over a contiguous axis: NumPy's pairwise summation with 8 accumulators, blocks of
128; ``tests/exactness/test_nlp_kernels.py`` checks it bit for bit against ``np.sum``).
"""

import math

import numpy as np
from numba import njit

# --- the one import block from the rest of fastact -------------------------------------------
from ..ufuncs import get as _get_ufunc
from .formulas import tanh
from .jit import HELPER, KERNEL
from .kernels import _SOURCE_TAG, _cached
from .scalar import like, sigmoid
from .softmax import softmax as row_softmax

__all__ = ["row_softmax", "sigmoid_ufunc"]


def sigmoid_ufunc(x, out=None):
    """fastact's sigmoid (a NumPy ufunc, within 2 ULP), built on first use."""
    return _get_ufunc("sigmoid")(x, out=out)


def _jit(fn):
    fn.__qualname__ = f"nlp_{fn.__name__}_{_SOURCE_TAG}"  # see kernels._source_tag
    return _cached(njit, fn, **KERNEL)  # (no fastmath: bits matter)


# --- NumPy's summation orders -----------------------------------------------------------------


@njit(inline="always")
def _block(a, start, n):
    if n < 8:
        res = like(-0.0, a[0])
        for i in range(n):
            res += a[start + i]
        return res
    r0 = a[start]
    r1 = a[start + 1]
    r2 = a[start + 2]
    r3 = a[start + 3]
    r4 = a[start + 4]
    r5 = a[start + 5]
    r6 = a[start + 6]
    r7 = a[start + 7]
    i = 8
    m = n - n % 8
    while i < m:
        r0 += a[start + i]
        r1 += a[start + i + 1]
        r2 += a[start + i + 2]
        r3 += a[start + i + 3]
        r4 += a[start + i + 4]
        r5 += a[start + i + 5]
        r6 += a[start + i + 6]
        r7 += a[start + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@njit(inline="always")
def _half(n):
    half = n // 2
    return half - half % 8


@njit(**HELPER)
def _pairwise_deep(a, start, n):
    # Above 128 NumPy halves the range (the first half a multiple of 8) and recurses; here the
    # recursion is a loop over an explicit stack (numba's cache mishandles a recursive
    # function: a segfault, measured). A frame waits for its left half (state 1), then for its
    # right half (state 2); 64 frames cover any length.
    f_start = np.empty(64, np.int64)
    f_n = np.empty(64, np.int64)
    f_state = np.empty(64, np.int64)
    f_left = np.empty(64, a.dtype)
    top = 0
    f_start[0] = start
    f_n[0] = n
    f_state[0] = 0
    while True:
        s = f_start[top]
        k = f_n[top]
        if k > 128:
            f_state[top] = 1
            top += 1
            f_start[top] = s
            f_n[top] = _half(k)
            f_state[top] = 0
            continue
        val = _block(a, s, k)
        top -= 1
        while top >= 0 and f_state[top] == 2:
            val = f_left[top] + val
            top -= 1
        if top < 0:
            return val
        f_left[top] = val
        f_state[top] = 2
        h = _half(f_n[top])
        s = f_start[top]
        k = f_n[top]
        top += 1
        f_start[top] = s + h
        f_n[top] = k - h
        f_state[top] = 0


# A called helper, not inlined: inlined, each call site took three copies of the unrolled
# block, and TimeAttention's first forward and backward compiled in 3.6 s; called, 2.1 s
# (this helper 0.66 s of it, once per process), with the same steps (the ch08 model's
# 102-106 ms either way; Intel VM, cold caches, old and new taking turns).
@njit(**HELPER)
def _pairwise(a, start, n):
    """NumPy's pairwise sum of a[start:start + n] (contiguous, n >= 1)."""
    if n <= 128:
        return _block(a, start, n)
    h = _half(n)
    if n - h <= 128:
        return _block(a, start, h) + _block(a, start + h, n - h)
    return _pairwise_deep(a, start, n)


def _pairwise_sum(a):
    # ``np.sum`` of a 1-D contiguous array: the reduction adds its pairwise sum to the
    # identity 0 (so a -0.0 result comes out +0.0, as NumPy's).
    return like(0.0, a[0]) + _pairwise(a, 0, a.shape[0])


pairwise_sum = _jit(_pairwise_sum)


# --- LSTM, RNN, GRU cells ---------------------------------------------------------------------


@njit(inline="never", **HELPER)
def _lstm_gates(ax, ah, b, gates):
    n, four_h = ax.shape
    hh = four_h // 4
    for r in range(n):
        x_r, h_r, g_r = ax[r], ah[r], gates[r]
        xs, hs, gs, bs = x_r[:hh], h_r[:hh], g_r[:hh], b[:hh]  # f
        for j in range(hh):
            gs[j] = sigmoid((xs[j] + hs[j]) + bs[j])
        xs, hs, gs, bs = x_r[hh : 2 * hh], h_r[hh : 2 * hh], g_r[hh : 2 * hh], b[hh : 2 * hh]  # g
        for j in range(hh):
            gs[j] = tanh((xs[j] + hs[j]) + bs[j])
        xs, hs, gs, bs = x_r[2 * hh :], h_r[2 * hh :], g_r[2 * hh :], b[2 * hh :]  # i and o
        for j in range(2 * hh):
            gs[j] = sigmoid((xs[j] + hs[j]) + bs[j])


@njit(inline="never", **HELPER)
def _lstm_cell(gates, c_prev, c_next, tanh_c, h_next):
    n, four_h = gates.shape
    hh = four_h // 4
    for r in range(n):
        g_r = gates[r]
        f, g, i, o = g_r[:hh], g_r[hh : 2 * hh], g_r[2 * hh : 3 * hh], g_r[3 * hh :]
        cp_r, c_r, t_r, out_r = c_prev[r], c_next[r], tanh_c[r], h_next[r]
        for j in range(hh):
            c = f[j] * cp_r[j] + g[j] * i[j]
            c_r[j] = c
            t = tanh(c)
            t_r[j] = t
            out_r[j] = o[j] * t


def _lstm_forward(ax, ah, b, c_prev, gates, c_next, tanh_c, h_next):
    """The book's LSTM step after its two matmuls: A = (ax + ah) + b, its four gates
    (f, g, i, o: sigmoid, tanh, sigmoid, sigmoid), c = f * c_prev + g * i, h = o * tanh(c).
    ``gates`` receives the activated gates (N, 4H). All arrays C-contiguous.

    Each loop runs from 0 over contiguous slices with one formula: LLVM vectorizes that. A
    loop over ``range(H, 2H)`` of the whole row ran 7x slower (313 vs 41 us at N=H=128,
    measured), one that picks tanh or sigmoid per element stays scalar, and the gates and the
    cell update in one function ran at half the speed of the two apart."""
    _lstm_gates(ax, ah, b, gates)
    _lstm_cell(gates, c_prev, c_next, tanh_c, h_next)


def _lstm_backward(dhs_t, dh, dc, c_prev, gates, tanh_c, d_a, dc_prev):
    """The book's LSTM backward up to its matmuls, dh_next = dhs_t + dh, in its order:
    ds = dc + (dh_next * o) * (1 - tanh_c**2); dc_prev = ds * f;
    dA = [ds*c_prev * f(1-f), ds*i * (1-g**2), ds*g * i(1-i), dh_next*tanh_c * o(1-o)].
    All arrays C-contiguous."""
    n, four_h = d_a.shape
    hh = four_h // 4
    one = like(1.0, d_a[0, 0])
    for r in range(n):
        g_r, da_r = gates[r], d_a[r]
        f, g, i, o = g_r[:hh], g_r[hh : 2 * hh], g_r[2 * hh : 3 * hh], g_r[3 * hh :]
        df, dg, di, do = da_r[:hh], da_r[hh : 2 * hh], da_r[2 * hh : 3 * hh], da_r[3 * hh :]
        x_r, h_r, c_r, cp_r, t_r, out_r = dhs_t[r], dh[r], dc[r], c_prev[r], tanh_c[r], dc_prev[r]
        for j in range(hh):
            t = t_r[j]
            dh_next = x_r[j] + h_r[j]
            ds = c_r[j] + (dh_next * o[j]) * (one - t * t)
            out_r[j] = ds * f[j]
            df[j] = (ds * cp_r[j]) * (f[j] * (one - f[j]))
            dg[j] = (ds * i[j]) * (one - g[j] * g[j])
            di[j] = (ds * g[j]) * (i[j] * (one - i[j]))
            do[j] = (dh_next * t) * (o[j] * (one - o[j]))


def _rnn_forward(ah, ax, b, h_next):
    """h = tanh((h_prev @ Wh + x @ Wx) + b), the book's order (Wh's product first)."""
    n, hh = ah.shape
    for r in range(n):
        a_r, x_r, o_r = ah[r], ax[r], h_next[r]
        for j in range(hh):
            o_r[j] = tanh((a_r[j] + x_r[j]) + b[j])


def _rnn_backward(dhs_t, dh, h_next, dt):
    """dt = (dhs_t + dh) * (1 - h_next**2)."""
    n, hh = dt.shape
    for r in range(n):
        for j in range(hh):
            h = h_next[r, j]
            dt[r, j] = (dhs_t[r, j] + dh[r, j]) * (like(1.0, h) - h * h)


def _gru_gates(xz, hz, bz, xr, hr, br, h_prev, z, r_gate, rh):
    """z = sigmoid((x Wxz + h Whz) + bz), r likewise, and r * h_prev for the candidate's matmul."""
    n, hh = z.shape
    for r in range(n):
        for j in range(hh):
            z[r, j] = sigmoid((xz[r, j] + hz[r, j]) + bz[j])
            rv = sigmoid((xr[r, j] + hr[r, j]) + br[j])
            r_gate[r, j] = rv
            rh[r, j] = rv * h_prev[r, j]


def _gru_candidate(xh, hh_, bh, z, h_prev, h_hat, h_next):
    """h_hat = tanh((x Wxh + (r h) Whh) + bh); h = (1 - z) * h_prev + z * h_hat."""
    n, hh = z.shape
    for r in range(n):
        for j in range(hh):
            hat = tanh((xh[r, j] + hh_[r, j]) + bh[j])
            h_hat[r, j] = hat
            zv = z[r, j]
            h_next[r, j] = (like(1.0, zv) - zv) * h_prev[r, j] + zv * hat


def _gru_backward_candidate(dh_next, z, h_hat, h_prev, dt_h, dt_z, dh_prev):
    """The book's GRU backward before its matmuls: dt_h = (dh z)(1 - h_hat**2),
    dt_z = (dh h_hat - dh h_prev) z (1 - z), dh_prev = dh (1 - z)."""
    n, hh = z.shape
    for r in range(n):
        for j in range(hh):
            d = dh_next[r, j]
            zv = z[r, j]
            one = like(1.0, zv)
            hat = h_hat[r, j]
            dt_h[r, j] = (d * zv) * (one - hat * hat)
            dt_z[r, j] = ((d * hat - d * h_prev[r, j]) * zv) * (one - zv)
            dh_prev[r, j] = d * (one - zv)


def _gru_backward_reset(dhr, r_gate, h_prev, dh_prev, dt_r):
    """dh_prev += r * dhr; dt_r = (dhr h_prev) r (1 - r)."""
    n, hh = dt_r.shape
    for r in range(n):
        for j in range(hh):
            rv = r_gate[r, j]
            d = dhr[r, j]
            dh_prev[r, j] = dh_prev[r, j] + rv * d
            dt_r[r, j] = ((d * h_prev[r, j]) * rv) * (like(1.0, rv) - rv)


lstm_forward = _jit(_lstm_forward)
lstm_backward = _jit(_lstm_backward)
rnn_forward = _jit(_rnn_forward)
rnn_backward = _jit(_rnn_backward)
gru_gates = _jit(_gru_gates)
gru_candidate = _jit(_gru_candidate)
gru_backward_candidate = _jit(_gru_backward_candidate)
gru_backward_reset = _jit(_gru_backward_reset)


# --- embeddings: gather and scatter-add -------------------------------------------------------


def _index_range(idx, size):
    """(min, max) of an int array, 0-size aware (callers check against the vocabulary)."""
    lo = size
    hi = -size - 1
    for k in range(idx.shape[0]):
        v = idx[k]
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


def _scatter_add(dw, idx, dout):
    """``dW[...] = 0; np.add.at(dW, idx, dout)``: rows added in idx's order (ids checked)."""
    v_size = dw.shape[0]
    dw[...] = 0
    for k in range(idx.shape[0]):
        v = idx[k]
        if v < 0:
            v += v_size
        for j in range(dw.shape[1]):
            dw[v, j] += dout[k, j]


def _time_scatter_add(dw, idx, dout, slot, stamp, rows, scratch):
    """The book's TimeEmbedding backward, bit for bit, without its T full-size zeroed grads:
    grad = sum over t (in order) of G_t, G_t = add.at(zeros, idx[:, t], dout[:, t]). Each G_t
    is built only on the rows it touches (a +0.0 added to the others changes no bit, since no
    sum that starts at +0.0 is -0.0)."""
    n, t_len = idx.shape
    v_size, d = dw.shape
    dw[...] = 0
    stamp[...] = -1
    for t in range(t_len):
        count = 0
        for r in range(n):
            v = idx[r, t]
            if v < 0:
                v += v_size
            if stamp[v] != t:
                stamp[v] = t
                slot[v] = count
                rows[count] = v
                for j in range(d):
                    scratch[count, j] = 0
                count += 1
            s = slot[v]
            for j in range(d):
                scratch[s, j] += dout[r, t, j]
        for k in range(count):
            v = rows[k]
            for j in range(d):
                dw[v, j] = dw[v, j] + scratch[k, j]


index_range = _jit(_index_range)
scatter_add = _jit(_scatter_add)
time_scatter_add = _jit(_time_scatter_add)


# --- TimeSoftmaxWithLoss backward -------------------------------------------------------------


def _softmax_loss_backward(ys, ts, mask, dout, count):
    """In place on ys, the book's order: ys[r, t_r] -= 1; ys *= dout; ys /= count (in float64,
    NumPy's type for a float32 array over an int64 count, rounded back); ys *= mask."""
    n, v = ys.shape
    c = np.float64(count)
    for r in range(n):
        t = ts[r]
        if t < 0:
            t += v
        ys[r, t] -= like(1.0, dout)
        m = like(1.0, dout) if mask[r] else like(0.0, dout)
        for j in range(v):
            ys[r, j] = like(np.float64(ys[r, j] * dout) / c, dout) * m


softmax_loss_backward = _jit(_softmax_loss_backward)


# --- negative sampling ------------------------------------------------------------------------


def _cumsum_search(p, x, found, n_found, cdf):
    """One round of NumPy's choice(replace=False, p=p): cdf = cumsum(p) / cdf[-1], each draw x
    searched (side="right"); the first occurrence of each new index in draw order is appended
    to found. Returns the new count."""
    acc = like(0.0, p[0])
    for k in range(p.shape[0]):
        acc += p[k]
        cdf[k] = acc
    last = cdf[p.shape[0] - 1]
    for k in range(p.shape[0]):
        cdf[k] /= last
    start = n_found
    for m in range(x.shape[0]):
        lo = 0
        hi = p.shape[0]
        xv = x[m]
        while lo < hi:
            mid = (lo + hi) >> 1
            if cdf[mid] <= xv:
                lo = mid + 1
            else:
                hi = mid
        new = True
        for q in range(start, n_found):
            if found[q] == lo:
                new = False
                break
        if new:
            found[n_found] = lo
            n_found += 1
    return n_found


_cumsum_search_j = njit(inline="always")(_cumsum_search)


def _negative_samples(word_p, target, size, out, row, n_found, doubles, p, cdf):
    """The book's sampler from row ``row`` on: for each row, p = word_p with p[target] = 0,
    p /= p.sum(), then NumPy's choice(V, size, replace=False, p=p) on the given doubles (the
    next ones from NumPy's global stream). Stops where the doubles run out, at the start of a
    round; returns (row, found in that row, doubles used)."""
    batch = target.shape[0]
    v_size = word_p.shape[0]
    used = 0
    while row < batch:
        for k in range(v_size):
            p[k] = word_p[k]
        t = target[row]
        if t < 0:
            t += v_size
        p[t] = 0.0
        total = like(0.0, p[0]) + _pairwise(p, 0, v_size)
        for k in range(v_size):
            p[k] /= total
        for q in range(n_found):
            p[out[row, q]] = 0.0
        while n_found < size:
            want = size - n_found
            if used + want > doubles.shape[0]:
                return row, n_found, used
            if n_found > 0:
                for q in range(n_found):
                    p[out[row, q]] = 0.0
            n_found = _cumsum_search_j(p, doubles[used : used + want], out[row], n_found, cdf)
            used += want
        row += 1
        n_found = 0
    return row, n_found, used


negative_samples = _jit(_negative_samples)


def _positive_count(word_p, target, size):
    """For each row: how many entries of word_p stay > 0 once the target's is zeroed (NumPy's
    choice raises when fewer than ``size``). Returns the first failing row or -1."""
    v_size = word_p.shape[0]
    positive = 0
    for k in range(v_size):
        if word_p[k] > 0:
            positive += 1
    for r in range(target.shape[0]):
        t = target[r]
        if t < 0:
            t += v_size
        if positive - (1 if word_p[t] > 0 else 0) < size:
            return r
    return -1


positive_count = _jit(_positive_count)


# --- attention ------------------------------------------------------------------------------


def _attention_forward(hs, hd, a_out, c_out, prod):
    """For each decoder step td: s = sum_h hs * h (NumPy's pairwise order), a = softmax(s)
    (in float64, rounded once), c = sum_t hs * a (in t's order). hs (N, T, H), hd (N, Td, H);
    a_out (N, Td, T), c_out (N, Td, H)."""
    n, t_len, hh = hs.shape
    td_len = hd.shape[1]
    s = np.empty(t_len, np.float64)
    for r in range(n):
        for td in range(td_len):
            big = -np.inf
            for t in range(t_len):
                for j in range(hh):
                    prod[j] = hs[r, t, j] * hd[r, td, j]
                v = like(0.0, prod[0]) + _pairwise(prod, 0, hh)
                s[t] = v
                big = max(big, s[t])
            total = 0.0
            for t in range(t_len):
                e = math.exp(s[t] - big)
                s[t] = e
                total += e
            for t in range(t_len):
                a_out[r, td, t] = s[t] / total
            for j in range(hh):
                acc = like(0.0, prod[0])
                for t in range(t_len):
                    acc += hs[r, t, j] * a_out[r, td, t]
                c_out[r, td, j] = acc


def _attention_backward(hs, hd, a, dc, dhs_enc, dhd, prod, ds):
    """The book's TimeAttention backward, all decoder steps in its order. Per step td:
    WeightSum: da_t = sum_h dc * hs (pairwise), dhs0 = dc * a; Softmax: dx = a * da,
    ds = dx - a * sum_t dx (pairwise); AttentionWeight: dhs1 = ds * h, dh = sum_t ds * hs (in
    order); dhs_enc = 0 + (dhs0 + dhs1) summed over td in order."""
    n, t_len, hh = hs.shape
    td_len = hd.shape[1]
    dhs_enc[...] = 0
    for r in range(n):
        for td in range(td_len):
            for t in range(t_len):
                for j in range(hh):
                    prod[j] = dc[r, td, j] * hs[r, t, j]
                da = like(0.0, prod[0]) + _pairwise(prod, 0, hh)
                ds[t] = a[r, td, t] * da
            sumdx = like(0.0, prod[0]) + _pairwise(ds, 0, t_len)
            for t in range(t_len):
                ds[t] -= a[r, td, t] * sumdx
            for j in range(hh):
                acc = like(0.0, prod[0])
                for t in range(t_len):
                    acc += ds[t] * hs[r, t, j]
                dhd[r, td, j] = acc
            for t in range(t_len):
                for j in range(hh):
                    dhs_enc[r, t, j] = dhs_enc[r, t, j] + (dc[r, td, j] * a[r, td, t] + ds[t] * hd[r, td, j])


attention_forward = _jit(_attention_forward)
attention_backward = _jit(_attention_backward)
