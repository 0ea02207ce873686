"""Compiled kernels for the book's window layers (im2col, col2im, pooling) and the fused
per-feature passes of Dropout and BatchNormalization.

Every kernel reproduces the NumPy twin's arithmetic exactly: the same operations, in the same
order, in the same dtypes (numba promotes float32 with float64 as NumPy does for arrays; no
fastmath, so nothing is contracted into an FMA). Where the twin accumulates, the kernel adds
the same terms in the same order, starting from the same +0.0:

- ``col2im`` adds each image pixel's window entries onto +0.0 in the twin's (fy, fx) order, an
  image per thread (no two threads write one pixel); Pooling's backward gives each pixel +0.0
  plus the dout of the windows whose maximum it was, in that same order.
- NumPy's ``sum``/``mean`` over axis 0 of a C-contiguous (N, D) array adds row after row into
  a +0.0 start (measured, NumPy 2.4); the BatchNormalization kernels do the same per column.

Each kernel is a ``Pair`` (serial and parallel build) run through ``threads.run``. The
parallel loops split independent outputs (image rows, matrix rows, column blocks), never one
sum, so the serial and the parallel build give the same bits.
"""

import numpy as np

from .jit import register_jitable
from .kernels import Pair, share


@register_jitable(inline="always")
def _add(total, term):
    """``total + term`` in float64, where a NaN total keeps its own payload as NumPy's
    ``img += col`` does (x86 returns the first operand's NaN; LLVM may swap the operands of
    an addition, and does for a float32 term)."""
    return total + np.float64(term) if total == total else total


# Columns per block in the BatchNormalization kernels: a block's accumulators stay in L1
# while the rows stream past, and blocks are the unit of parallel work. The kernels take each
# block's rows as 1-D slices: LLVM vectorizes a loop over a slice, but not one over a column
# range of a 2-D array (3-10x slower for the book's 30- to 100-column matrices).
BN_BLOCK = 256


def _im2col():
    # x arrives as its flat memory with element strides (sn, sc, sy, sx): x[i, ch, y, xx] is
    # x[i*sn + ch*sc + y*sy + xx*sx]. The ConvNets' inputs are the previous layer's
    # (N, C, H, W) views of NHWC memory; indexed as 4-D views, every read paid for the
    # generic strides (1.5x slower). Each col row is written in order from a table of the
    # window's offsets; rows whose window reaches into the padding take +0.0 there.
    def kernel(x, col, n, c, h, w, sn, sc, sy, sx, fh, fw, stride, pad, oh, ow, part, parts):
        cols = c * fh * fw
        off = np.empty(cols, np.int64)
        wy = np.empty(cols, np.int64)
        wx = np.empty(cols, np.int64)
        for ch in range(c):
            for fy in range(fh):
                for fx in range(fw):
                    k = (ch * fh + fy) * fw + fx
                    off[k] = ch * sc + fy * sy + fx * sx
                    wy[k] = fy
                    wx[k] = fx
        for noy in share(n * oh, part, parts):
            i, oy = noy // oh, noy % oh
            y0 = oy * stride - pad
            for ox in range(ow):
                x0 = ox * stride - pad
                row = col[noy * ow + ox]
                base = i * sn + y0 * sy + x0 * sx
                if y0 >= 0 and x0 >= 0 and y0 + fh <= h and x0 + fw <= w:
                    for k in range(cols):
                        row[k] = x[base + off[k]]
                else:
                    for k in range(cols):
                        y = y0 + wy[k]
                        xx = x0 + wx[k]
                        inside = 0 <= y < h and 0 <= xx < w
                        row[k] = x[base + off[k]] if inside else 0.0

    return kernel


@register_jitable(inline="always")
def _zeroed_image(img, i):
    """Image ``i`` of ``img`` as one flat row of +0.0, the start of every pixel's sum."""
    plane = img[i].reshape(-1)
    for j in range(plane.shape[0]):
        plane[j] = 0.0
    return plane


def _col2im():
    # img[i, ch, y, xx] = ((0.0 + t_1) + t_2) + ... over its entries in (fy, fx) order, as the
    # twin's loop of "img[window] += col[fy, fx]" adds them. A pixel's entries for one fy all
    # come from one output row oy, so the image takes the output rows from the last to the
    # first (fy ascending) and, within one, the fx in order: every pixel then receives its
    # entries in the twin's order, while the loop reads each col row once, whole, in order.
    # Per image (the parallel unit); the (ch, fy) offsets of a window come from a table.
    # Against a gather per pixel (entries a col row apart: ~10 cycles each), 1.1-1.6x faster
    # on the deep ConvNet's layers.
    def kernel(col, img, fh, fw, stride, pad, oh, ow, part, parts):
        n, c, h, w = img.shape
        hw = h * w
        off = np.empty(c * fh, np.int64)
        for ch in range(c):
            for fy in range(fh):
                off[ch * fh + fy] = ch * hw + fy * w
        for i in share(n, part, parts):
            plane = _zeroed_image(img, i)
            for oy in range(oh - 1, -1, -1):
                y0 = oy * stride - pad
                fy0 = max(0, -y0)
                fy1 = min(fh, h - y0)
                for fx in range(fw):
                    for ox in range(ow):
                        xx = ox * stride - pad + fx
                        if xx < 0 or xx >= w:
                            continue
                        r = col[(i * oh + oy) * ow + ox]
                        base = y0 * w + xx
                        if fy0 == 0 and fy1 == fh:  # one flat loop over (ch, fy): 1.4x faster
                            for j in range(c * fh):
                                q = base + off[j]
                                v = plane[q]
                                plane[q] = v + r[j * fw + fx] if v == v else v
                        else:
                            for ch in range(c):
                                for fy in range(fy0, fy1):
                                    q = base + off[ch * fh + fy]
                                    v = plane[q]
                                    plane[q] = v + r[(ch * fh + fy) * fw + fx] if v == v else v

    return kernel


def _col2im_runs():
    # The same sums, for layers whose output rows are long enough (or col rows short: the
    # ConvNet's 1-channel 5x5, 25 entries). Scattering each col row into the image (the loop
    # above) chains every add through the store of the one before it on the same pixels;
    # instead, a block of output rows is first transposed into scratch (one row per window
    # entry), and each entry's row is then added to its image rows as a contiguous run, the
    # entries in (ch, fy, fx) order, so every pixel still gets its entries in the twin's
    # (fy, fx) order. Blocks go from the image's last output rows to its first: a pixel whose
    # windows span two blocks gets its smaller fy from the block taken first. Against the
    # scatter: 1.4-2x faster on the ConvNets' first layers, 1.2-1.5x on the deep ConvNet's
    # 28- and 14-wide ones, even at 8-wide rows, 0.9x at 7.
    def kernel(col, img, fh, fw, stride, pad, oh, ow, rows, part, parts):
        n, c, h, w = img.shape
        hw = h * w
        cols = c * fh * fw
        lo = np.empty(fw, np.int64)  # the ox whose pixel xx = ox * stride - pad + fx is inside
        hi = np.empty(fw, np.int64)
        for fx in range(fw):
            lo[fx] = min(ow, max(0, (pad - fx + stride - 1) // stride))
            hi[fx] = max(lo[fx], min(ow, (w - 1 + pad - fx) // stride + 1))
        for i in share(n, part, parts):
            plane = _zeroed_image(img, i)
            t = np.empty((cols, rows * ow))
            for b in range((oh + rows - 1) // rows - 1, -1, -1):
                top = b * rows
                m = min(rows, oh - top)
                block = col[(i * oh + top) * ow : (i * oh + top + m) * ow]
                for q in range(m * ow):
                    r = block[q]
                    for k in range(cols):
                        t[k, q] = r[k]
                for ch in range(c):
                    for fy in range(fh):
                        for fx in range(fw):
                            tk = t[(ch * fh + fy) * fw + fx]
                            for oy in range(m):
                                y = (top + oy) * stride - pad + fy
                                if y < 0 or y >= h:
                                    continue
                                start = ch * hw + y * w - pad + fx
                                if stride == 1:  # contiguous on both sides: vectorizes
                                    dst = plane[start + lo[fx] : start + hi[fx]]
                                    src = tk[oy * ow + lo[fx] : oy * ow + hi[fx]]
                                    for o in range(dst.shape[0]):
                                        v = dst[o]
                                        dst[o] = v + src[o] if v == v else v
                                else:
                                    for ox in range(lo[fx], hi[fx]):
                                        q = start + ox * stride
                                        v = plane[q]
                                        plane[q] = v + tk[oy * ow + ox] if v == v else v

    return kernel


def _col2im_numpy(col, img, fh, fw, stride, pad, oh, ow, *rows):
    # Both col2im kernels' stand-in (kernels.Pair), in NumPy: the twin's loop of
    # "img[window] += col[fy, fx]" over a padded image of +0.0, in (fy, fx) order, a NaN sum
    # kept as it is (the kernels' "v + r if v == v else v"); the padding is then dropped.
    n, c, h, w = img.shape
    entries = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    padded = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), img.dtype)
    for fy in range(fh):
        for fx in range(fw):
            v = padded[:, :, fy : fy + stride * oh : stride, fx : fx + stride * ow : stride]
            np.add(v, entries[:, :, fy, fx], out=v, where=v == v)
    img[...] = padded[:, :, pad : pad + h, pad : pad + w]


#: Elements of col2im_runs's per-thread scratch (128 KiB of float64): whole images at the
#: ConvNets' first layers; a larger image is taken ``rows`` output rows at a time.
COL2IM_SCRATCH = 16384

#: col2im takes ``_col2im_runs`` for col rows of up to this many entries (C * FH * FW) ...
COL2IM_NARROW_COLS = 32
#: ... or for output rows of at least this many windows; the scatters otherwise.
COL2IM_RUN_MIN = 8


def col2im_plan(cols, oh, ow):
    """(kernel, its trailing arguments) for col2im of (N * oh * ow, cols) rows."""
    if cols <= COL2IM_NARROW_COLS or ow >= COL2IM_RUN_MIN:
        return COL2IM_RUNS, (runs_rows(cols, oh, ow),)
    return COL2IM, ()


def runs_rows(cols, oh, ow):
    """The output rows col2im_runs transposes at a time: as many as fit its scratch."""
    return max(1, min(oh, COL2IM_SCRATCH // max(1, cols * ow)))


def _im2col_numpy(x, col, n, c, h, w, sn, sc, sy, sx, fh, fw, stride, pad, oh, ow):
    # The im2col kernel's stand-in (kernels.Pair), in NumPy: the twin's copies from a padded
    # image, +0.0 in the padding.
    image = np.lib.stride_tricks.as_strided(x, (n, c, h, w), tuple(s * x.itemsize for s in (sn, sc, sy, sx)))
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), col.dtype)
    padded[:, :, pad : pad + h, pad : pad + w] = image
    rows = np.empty((n, oh, ow, c, fh, fw), col.dtype)
    for fy in range(fh):
        for fx in range(fw):
            window = padded[:, :, fy : fy + stride * oh : stride, fx : fx + stride * ow : stride]
            rows[..., fy, fx] = window.transpose(0, 2, 3, 1)
    col[...] = rows.reshape(col.shape)


@register_jitable
def _pool_window_exact(x, out, arg_max, i, oy, ox, base, ph, pw, stride, pad):
    # One output position, every channel, with the twin's exact rules, NaN included.
    # The twin takes np.argmax and np.max of each im2col row (float64, padding as +0.0).
    # argmax: the first maximum, or the first NaN. max, as NumPy 2.4 gives it for rows of up to
    # 4 elements (measured): the maximum, and among equal maxima (only -0.0 vs +0.0 can tell)
    # the last one; a NaN if the row holds one: the first NaN's payload, except that a row
    # that starts with a NaN gives NumPy's default NaN (a 1-element row gives its element).
    # That is NumPy's result on most arrays, not all: NaN payloads (and, for rows of more
    # than 4 elements, tied zero signs) follow NumPy's SIMD blocking, which depends on the
    # array's size; this does not model it (see layers.conv). x is indexed (N, H, W, C).
    n, h, w, c = x.shape
    for ch in range(c):
        best = 0.0
        value = 0.0
        arg = -1
        for fy in range(ph):
            y = oy * stride + fy - pad
            for fx in range(pw):
                xx = ox * stride + fx - pad
                v = 0.0
                if 0 <= y < h and 0 <= xx < w:
                    v = np.float64(x[i, y, xx, ch])
                k = fy * pw + fx
                if arg < 0:
                    arg = k
                    best = v
                    value = v if (v == v or ph * pw == 1) else np.nan
                elif best != best:  # a NaN decided both already
                    pass
                elif v != v:
                    arg = k
                    best = v
                    value = v
                elif v > best:
                    arg = k
                    best = v
                    value = v
                elif v == best:
                    value = v
        out[i, oy, ox, ch] = value
        arg_max[base + ch] = arg


def _pool_forward():
    # Branch-free over the channels (contiguous in the book's NHWC conv output, so the channel
    # loop vectorizes): the running maximum moves to each value >= it (the last of equal
    # values: the sign of a tied zero), the argmax to each value > it (the first maximum).
    # Without NaNs that is the exact rule above; a window position that met a NaN is redone
    # by it. The branchy scalar walk alone mispredicted about every other compare (~4x slower).
    # x comes as an (N, H, W, C) view: the conv output's own memory order makes it C-contiguous,
    # and numba's C-layout specialization then knows the channel stride is one element and
    # vectorizes; any other layout gets the strided (A-layout) one.
    # The book's 2x2 windows away from the padding take a straight-line body: the four values
    # of each channel in registers, the same rule unrolled, one store each (3x faster than the
    # general loop, which keeps its running maximum in `out`).
    def kernel(x, out, arg_max, ph, pw, stride, pad, oh, ow, part, parts):
        n, h, w, c = x.shape
        for noy in share(n * oh, part, parts):
            i, oy = noy // oh, noy % oh
            y0 = oy * stride - pad
            for ox in range(ow):
                base = (noy * ow + ox) * c
                x0 = ox * stride - pad
                nan_seen = False
                if ph == 2 and pw == 2 and y0 >= 0 and x0 >= 0 and y0 + 2 <= h and x0 + 2 <= w:
                    r0, r1 = x[i, y0, x0], x[i, y0, x0 + 1]
                    r2, r3 = x[i, y0 + 1, x0], x[i, y0 + 1, x0 + 1]
                    o = out[i, oy, ox]
                    a = arg_max[base : base + c]
                    for ch in range(c):
                        v0 = np.float64(r0[ch])
                        v1 = np.float64(r1[ch])
                        v2 = np.float64(r2[ch])
                        v3 = np.float64(r3[ch])
                        nan_seen |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
                        k = 1 if v1 > v0 else 0
                        m = v1 if v1 >= v0 else v0
                        k = 2 if v2 > m else k
                        m = v2 if v2 >= m else m
                        k = 3 if v3 > m else k
                        o[ch] = v3 if v3 >= m else m
                        a[ch] = k
                    if nan_seen:
                        _pool_window_exact(x, out, arg_max, i, oy, ox, base, ph, pw, stride, pad)
                    continue
                for fy in range(ph):
                    y = oy * stride + fy - pad
                    for fx in range(pw):
                        xx = ox * stride + fx - pad
                        k = fy * pw + fx
                        inside = 0 <= y < h and 0 <= xx < w
                        for ch in range(c):
                            v = np.float64(x[i, y, xx, ch]) if inside else 0.0
                            nan_seen |= v != v
                            if k == 0:
                                out[i, oy, ox, ch] = v
                                arg_max[base + ch] = 0
                            else:
                                cur = out[i, oy, ox, ch]
                                out[i, oy, ox, ch] = v if v >= cur else cur
                                arg_max[base + ch] = k if v > cur else arg_max[base + ch]
                if nan_seen:
                    _pool_window_exact(x, out, arg_max, i, oy, ox, base, ph, pw, stride, pad)

    return kernel


def _pool_forward_numpy(x, out, arg_max, ph, pw, stride, pad, oh, ow):
    # The forward kernel's stand-in (kernels.Pair), in NumPy: _pool_window_exact's rules for
    # every window at once, over the window positions in order (selections only, no arithmetic).
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2 * pad, w + 2 * pad, c))
    padded[:, pad : pad + h, pad : pad + w] = x
    for fy in range(ph):
        for fx in range(pw):
            v = np.ascontiguousarray(padded[:, fy : fy + stride * oh : stride, fx : fx + stride * ow : stride])
            k = fy * pw + fx
            if k == 0:
                arg = np.zeros(v.shape, np.intp)
                best = v
                value = v if ph * pw == 1 else np.where(v == v, v, np.nan)
                continue
            open_ = best == best  # a NaN decided both already
            moves = open_ & ((v != v) | (v > best))
            takes = moves | (open_ & (v == best))
            arg = np.where(moves, k, arg)
            best = np.where(moves, v, best)
            value = np.where(takes, v, value)
    out[...] = value
    arg_max[...] = arg.reshape(-1)


def _pool_backward():
    # The twin scatters dout into a zero matrix at the argmax entries and runs col2im over it:
    # each pixel is 0.0 plus its windows' dout values where it was the maximum, in (fy, fx)
    # order. The twin's other terms are +0.0, which change no sum that starts from +0.0.
    def kernel(dout, arg_max, img, ph, pw, stride, pad, oh, ow, part, parts):
        n, c, h, w = img.shape
        for ny in share(n * h, part, parts):
            i, y = ny // h, ny % h
            for ch in range(c):
                for xx in range(w):
                    img[i, ch, y, xx] = 0.0
                for fy in range(ph):
                    t = y + pad - fy
                    if t < 0 or t % stride != 0 or t // stride >= oh:
                        continue
                    oy = t // stride
                    for fx in range(pw):
                        k = fy * pw + fx
                        for ox in range(ow):
                            xx = ox * stride + fx - pad
                            if 0 <= xx < w and arg_max[((i * oh + oy) * ow + ox) * c + ch] == k:
                                img[i, ch, y, xx] = _add(img[i, ch, y, xx], dout[i, ch, oy, ox])

    return kernel


def _pool_backward_disjoint():
    # Windows that cannot overlap but leave gaps or reach into the padding (stride >= pool
    # size; the book's 2x2 stride 2 on even sizes takes the tiled kernel below): each pixel
    # lies in one window at most, so the twin's col2im sum is +0.0 plus that window's dout
    # where the pixel was its maximum, else +0.0. One pass over dout scatters it into dx
    # (zeroed by the caller), instead of a walk over every pixel's windows.
    def kernel(dout, arg_max, img, ph, pw, stride, pad, oh, ow, part, parts):
        n, c, h, w = img.shape
        for noy in share(n * oh, part, parts):
            i, oy = noy // oh, noy % oh
            for ox in range(ow):
                base = (noy * ow + ox) * c
                for ch in range(c):
                    k = arg_max[base + ch]
                    y = oy * stride + k // pw - pad
                    xx = ox * stride + k % pw - pad
                    if 0 <= y < h and 0 <= xx < w:
                        img[i, ch, y, xx] = _add(0.0, dout[i, ch, oy, ox])

    return kernel


def _column_sums():
    # x.sum(axis=0) of a C-contiguous (N, D) array as NumPy adds it: row after row into +0.0
    # (a column of -0.0 sums to +0.0), in x's dtype. A column's NaN is the first one its sum
    # meets, kept from then on: with a NaN on both sides, which one an addition returns is
    # the operand order the compiler chose (NumPy's own depends on where a column falls in its
    # SIMD blocks), and the stand-in must give the same bits. Blocks of columns are the
    # parallel unit, so the order within each column never changes.
    def kernel(x, out, part, parts):
        n, d = x.shape
        for b in share((d + BN_BLOCK - 1) // BN_BLOCK, part, parts):
            j0 = b * BN_BLOCK
            j1 = min(d, j0 + BN_BLOCK)
            total = out[j0:j1]
            total[:] = 0.0
            for i in range(n):
                row = x[i, j0:j1]
                for j in range(row.shape[0]):
                    t = total[j]
                    total[j] = t if t != t else t + row[j]

    return kernel


def _column_sums_numpy(x, out):
    # The column sums' stand-in (kernels.Pair): NumPy's reduction over the rows of a C-ordered
    # array with more than one column is the kernel's loop, row after row, here from +0.0;
    # a NaN column takes the first NaN of its running sum (+ 0.0: quiet, as the kernel's).
    np.add.reduce(x, axis=0, out=out, initial=0.0)
    nan = np.flatnonzero(out != out)
    if nan.size:
        run = np.cumsum(x[:, nan], axis=0)
        out[nan] = run[np.argmax(run != run, axis=0), np.arange(nan.size)] + 0.0


def _pool_backward_tiled():
    # Windows that tile the image exactly (stride == pool size, no padding, the book's 2x2
    # stride 2 on even sizes): every pixel lies in exactly one window, so each window writes
    # all its pixels, 0.0 + its dout where the pixel was the maximum (the twin's col2im sum)
    # and +0.0 elsewhere, and dx needs no zeroing pass. img is (N, H, W, C), the conv output's
    # memory order, so the channel loop writes contiguous memory; each image's dout block is
    # first turned to (OH, OW, C) so that it reads contiguous memory too (reading dout's
    # channels a plane apart, the loop did not vectorize: 5x slower).
    def kernel(dout, arg_max, img, ph, pw, oh, ow, part, parts):
        c = img.shape[3]
        for i in share(img.shape[0], part, parts):
            block = np.empty((oh, ow, c))
            for ch in range(c):
                for oy in range(oh):
                    for ox in range(ow):
                        block[oy, ox, ch] = dout[i, ch, oy, ox]
            for oy in range(oh):
                for ox in range(ow):
                    base = ((i * oh + oy) * ow + ox) * c
                    d = block[oy, ox]
                    for fy in range(ph):
                        for fx in range(pw):
                            k = fy * pw + fx
                            row = img[i, oy * ph + fy, ox * pw + fx]
                            for ch in range(c):
                                row[ch] = (0.0 + d[ch]) if arg_max[base + ch] == k else 0.0

    return kernel


def _pool_backward_tiled_numpy(dout, arg_max, img, ph, pw, oh, ow):
    # The tiled kernel's stand-in (kernels.Pair), in NumPy: each window's pixels get 0.0 plus
    # its dout (in float64, as the kernel's block holds it) where the pixel was the maximum,
    # +0.0 elsewhere.
    d = 0.0 + dout.transpose(0, 2, 3, 1).astype(np.float64)
    k = arg_max.reshape(d.shape)
    for fy in range(ph):
        for fx in range(pw):
            img[:, fy : oh * ph : ph, fx : ow * pw : pw, :] = np.where(k == fy * pw + fx, d, 0.0)


def _dropout_forward():
    # The twin: mask = rand > ratio (float64 compare); out = x * mask (mask as x's 0 or 1).
    def kernel(x, r, ratio, zero, one, out, mask, part, parts):
        for i in share(x.shape[0], part, parts):
            m = r[i] > ratio
            mask[i] = m
            out[i] = x[i] * (one if m else zero)

    return kernel


def _bn_forward():
    # The training forward: mu = x.mean(axis=0); xc = x - mu; var = np.mean(xc ** 2, axis=0);
    # std = np.sqrt(var + eps); xn = xc / std; out = gamma * xn + beta. NumPy's mean of a
    # C-contiguous (N, D) array adds row by row into +0.0, then divides by the count as an
    # intp: a float32 sum is divided in float64 and rounded back. One call for the whole
    # layer: the NumPy calls and kernel dispatches between the steps cost more than the steps
    # at the book's (100, 100) (0.04 ms a layer). Everything per block of columns, the
    # normalisation too (it needs only its own columns' std), so the blocks are independent
    # shares.
    def kernel(x, eps, gamma, beta, mu, xc, var, std, xn, out, part, parts):
        n, d = x.shape
        nf = np.float64(n)
        for b in share((d + BN_BLOCK - 1) // BN_BLOCK, part, parts):
            j0 = b * BN_BLOCK
            j1 = min(d, j0 + BN_BLOCK)
            m = mu[j0:j1]
            sq = var[j0:j1]
            m[:] = 0.0
            sq[:] = 0.0
            for i in range(n):
                row = x[i, j0:j1]
                for j in range(row.shape[0]):
                    m[j] += row[j]
            for j in range(m.shape[0]):
                m[j] = np.float64(m[j]) / nf
            for i in range(n):
                row = x[i, j0:j1]
                centered = xc[i, j0:j1]
                for j in range(row.shape[0]):
                    v = row[j] - m[j]
                    centered[j] = v
                    sq[j] += v * v
            sd = std[j0:j1]
            for j in range(sq.shape[0]):
                sq[j] = np.float64(sq[j]) / nf
                sd[j] = np.sqrt(sq[j] + eps)
            g, be = gamma[j0:j1], beta[j0:j1]
            for i in range(n):
                c_row, n_row, o_row = xc[i, j0:j1], xn[i, j0:j1], out[i, j0:j1]
                for j in range(c_row.shape[0]):
                    v = c_row[j] / sd[j]
                    n_row[j] = v
                    o_row[j] = g[j] * v + be[j]

    return kernel


def _bn_inference():
    # xc = x - running_mean; xn = xc / sqrt(running_var + eps); out = gamma * xn + beta
    def kernel(x, mean, root, gamma, beta, out, part, parts):
        n, d = x.shape
        for i in share(n, part, parts):
            for j in range(d):
                out[i, j] = gamma[j] * ((x[i, j] - mean[j]) / root[j]) + beta[j]

    return kernel


def _bn_backward():
    # The book's backward, per block of columns in one call:
    # dbeta = dout.sum(0); dgamma = sum(xn * dout, 0); s = sum((gamma * dout * xc) / (std * std), 0)
    # (the sum of dxn * xc / (std * std)); dvar = 0.5 * -s / std;
    # dxc = gamma * dout / std + ((2.0 / N) * xc) * dvar (into dx); dmu = dxc.sum(0);
    # dx = dxc - dmu / N. half, two_over_n and count are those constants in NumPy's dtypes.
    def kernel(dout, xn, xc, gamma, std, half, two_over_n, count, dbeta, dgamma, s, dvar, dmu, dx, part, parts):
        n, d = dout.shape
        for b in share((d + BN_BLOCK - 1) // BN_BLOCK, part, parts):
            j0 = b * BN_BLOCK
            j1 = min(d, j0 + BN_BLOCK)
            db, dg, sb = dbeta[j0:j1], dgamma[j0:j1], s[j0:j1]
            gb, sd, dv, dm = gamma[j0:j1], std[j0:j1], dvar[j0:j1], dmu[j0:j1]
            db[:] = 0.0
            dg[:] = 0.0
            sb[:] = 0.0
            dm[:] = 0.0
            for i in range(n):
                g_row, xn_row, xc_row = dout[i, j0:j1], xn[i, j0:j1], xc[i, j0:j1]
                for j in range(g_row.shape[0]):
                    g = g_row[j]
                    db[j] += g
                    dg[j] += xn_row[j] * g
                    sb[j] += (gb[j] * g * xc_row[j]) / (sd[j] * sd[j])
            for j in range(dv.shape[0]):
                dv[j] = (half * -sb[j]) / sd[j]
            for i in range(n):
                g_row, xc_row, dx_row = dout[i, j0:j1], xc[i, j0:j1], dx[i, j0:j1]
                for j in range(g_row.shape[0]):
                    v = (gb[j] * g_row[j]) / sd[j]
                    v = v + (two_over_n * xc_row[j]) * dv[j]
                    dx_row[j] = v
                    dm[j] += dx_row[j]
            for j in range(dm.shape[0]):
                dm[j] = dm[j] / count
            for i in range(n):
                dx_row = dx[i, j0:j1]
                for j in range(dx_row.shape[0]):
                    dx_row[j] = dx_row[j] - dm[j]

    return kernel


def _add_rows():
    # out += b (one row vector), in place: the bias of Affine and Convolution, whose NumPy
    # broadcast add spends its time per row (57600 rows of 30 in the ConvNet's first layer)
    def kernel(out, b, part, parts):
        for i in share(out.shape[0], part, parts):
            row = out[i]
            for j in range(row.shape[0]):
                r = row[j]
                s = r + b[j]
                row[j] = s if r == r else r + r  # NaN and NaN: out's, whatever the operand order

    return kernel


def _add_rows_numpy(out, b):
    # The stand-in (kernels.Pair): the kernel's one addition per element, out + out where out
    # holds a NaN
    np.add(out, np.where(out == out, b, out), out=out)


def _fill_rows():
    # out[i] = b for every row: the bias a dgemm with beta = 1 then adds the product to (gemm)
    def kernel(out, b, part, parts):
        for i in share(out.shape[0], part, parts):
            row = out[i]
            for j in range(row.shape[0]):
                row[j] = b[j]

    return kernel


IM2COL = Pair("window_im2col", _im2col, stand_in=_im2col_numpy)
COL2IM = Pair("window_col2im", _col2im, stand_in=_col2im_numpy)
COL2IM_RUNS = Pair("window_col2im_runs", _col2im_runs, stand_in=_col2im_numpy)
POOL_FORWARD = Pair("window_pool_forward", _pool_forward, stand_in=_pool_forward_numpy)
POOL_BACKWARD = Pair("window_pool_backward", _pool_backward)
POOL_BACKWARD_DISJOINT = Pair("window_pool_backward_disjoint", _pool_backward_disjoint)
POOL_BACKWARD_TILED = Pair("window_pool_backward_tiled", _pool_backward_tiled, stand_in=_pool_backward_tiled_numpy)
DROPOUT_FORWARD = Pair("window_dropout_forward", _dropout_forward)
BN_FORWARD = Pair("window_bn_forward", _bn_forward)
BN_INFERENCE = Pair("window_bn_inference", _bn_inference)
BN_BACKWARD = Pair("window_bn_backward", _bn_backward)
# Before their stand-ins the first SimpleConvNet step compiled these three, 0.4 s of it (fill
# 0.12 s, add 0.09 s, column sums 0.19 s): 2.79-3.16 s -> 2.66-2.68 s (cold, Intel VM).
ADD_ROWS = Pair("window_add_rows", _add_rows, stand_in=_add_rows_numpy)
FILL_ROWS = Pair("window_fill_rows", _fill_rows, stand_in=np.copyto)
COLUMN_SUMS = Pair("window_column_sums", _column_sums, stand_in=_column_sums_numpy)
