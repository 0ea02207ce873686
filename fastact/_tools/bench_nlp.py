"""Volume 2's models in the book's style, for timing whole training steps: ``python -m fastact
bench --section nlp``.

Each model is built from an engine, a namespace of layer classes: the book's arithmetic
(``fastact.nlp.reference``, "book") or ``fastact.nlp`` ("fastact"). A training step is what
the book's ``Trainer``/``RnnlmTrainer`` run per batch: forward, backward, ``remove_duplicate``,
``clip_grads`` where the chapter clips, the optimizer's update. The engines take turns in one
process (timings on a shared machine drift; ratios measured side by side hold better).

Sizes are the chapters': ch07 addition (batch 128, hidden 128, vocab 13, wordvec 16, 7 in /
5 out), ch08 dates (vocab 59, wordvec 16, hidden 256, batch 128, 29 in / 11 out), ch04 CBOW
(vocab 10,000, hidden 100, batch 100, window 5, negative sampling), ch06 BetterRnnlm (vocab
10,000, 650 wide, 2 LSTM layers, T=35, batch 20), on synthetic data (Zipf-distributed words:
the corpora are not downloaded).
"""

import time
from types import SimpleNamespace

import numpy as np

from ..nlp import reference as R
from . import warm_up

__all__ = ["engine", "MODELS", "build", "measure", "report", "TARGETS"]


def engine(name):
    """The layer classes of ``name``: "book" (the NumPy twins) or "fastact"."""
    if name == "book":
        mods = (R,)
    elif name == "fastact":
        from ..nlp import attention_layer, layers, negative_sampling_layer, time_layers

        mods = (layers, time_layers, negative_sampling_layer, attention_layer)
    else:
        raise ValueError(f"unknown engine {name!r}: 'book' or 'fastact'")
    names = (
        "Embedding TimeEmbedding TimeLSTM TimeAffine TimeSoftmaxWithLoss TimeDropout TimeAttention NegativeSamplingLoss"
    ).split()
    found = {}
    for n in names:
        for m in mods:
            if hasattr(m, n):
                found[n] = getattr(m, n)
                break
    return SimpleNamespace(name=name, **found)


def _rn(*shape):
    return np.random.randn(*shape)


def _time_lstm(L, D, H, stateful):
    """A TimeLSTM initialised as the ch07/ch08 models do (Xavier-like Wx, Wh; zero bias), drawing
    from NumPy's global state in the book's order."""
    Wx = (_rn(D, 4 * H) / np.sqrt(D)).astype("f")
    Wh = (_rn(H, 4 * H) / np.sqrt(H)).astype("f")
    return L.TimeLSTM(Wx, Wh, np.zeros(4 * H).astype("f"), stateful=stateful)


# --- ch07: Seq2seq, PeekySeq2seq --------------------------------------------------------------


class Encoder:
    def __init__(self, L, V, D, H):
        self.embed = L.TimeEmbedding((_rn(V, D) / 100).astype("f"))
        self.lstm = _time_lstm(L, D, H, stateful=False)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads
        self.hs = None

    def layers(self):
        return [("enc.embed", self.embed), ("enc.lstm", self.lstm)]

    def forward(self, xs):
        self.hs = self.lstm.forward(self.embed.forward(xs))
        return self.hs[:, -1, :]

    def backward(self, dh):
        dhs = np.zeros_like(self.hs)
        dhs[:, -1, :] = dh
        return self.embed.backward(self.lstm.backward(dhs))


class Decoder:
    def __init__(self, L, V, D, H, peeky=False):
        self.peeky = peeky
        X = H + D if peeky else D
        A = 2 * H if peeky else H
        self.embed = L.TimeEmbedding((_rn(V, D) / 100).astype("f"))
        self.lstm = _time_lstm(L, X, H, stateful=True)
        self.affine = L.TimeAffine((_rn(A, V) / np.sqrt(A)).astype("f"), np.zeros(V).astype("f"))
        self.params, self.grads = [], []
        for layer in (self.embed, self.lstm, self.affine):
            self.params += layer.params
            self.grads += layer.grads
        self.H = H

    def layers(self):
        return [("dec.embed", self.embed), ("dec.lstm", self.lstm), ("dec.affine", self.affine)]

    def forward(self, xs, h):
        self.lstm.set_state(h)
        out = self.embed.forward(xs)
        if not self.peeky:
            return self.affine.forward(self.lstm.forward(out))
        N, T = xs.shape
        hs = np.repeat(h, T, axis=0).reshape(N, T, self.H)
        out = self.lstm.forward(np.concatenate((hs, out), axis=2))
        return self.affine.forward(np.concatenate((hs, out), axis=2))

    def backward(self, dscore):
        dout = self.affine.backward(dscore)
        if not self.peeky:
            self.embed.backward(self.lstm.backward(dout))
            return self.lstm.dh
        H = self.H
        dout, dhs0 = dout[:, :, H:], dout[:, :, :H]
        dout = self.lstm.backward(dout)
        dembed, dhs1 = dout[:, :, H:], dout[:, :, :H]
        self.embed.backward(dembed)
        return self.lstm.dh + np.sum(dhs0 + dhs1, axis=1)


class Seq2seq:
    def __init__(self, L, V, D, H, peeky=False):
        self.encoder = Encoder(L, V, D, H)
        self.decoder = Decoder(L, V, D, H, peeky)
        self.softmax = L.TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads

    def layers(self):
        return self.encoder.layers() + self.decoder.layers() + [("loss", self.softmax)]

    def forward(self, xs, ts):
        h = self.encoder.forward(xs)
        score = self.decoder.forward(ts[:, :-1], h)
        return self.softmax.forward(score, ts[:, 1:])

    def backward(self, dout=1):
        return self.encoder.backward(self.decoder.backward(self.softmax.backward(dout)))


# --- ch08: AttentionSeq2seq -----------------------------------------------------------------


class AttentionEncoder(Encoder):
    def forward(self, xs):
        return self.lstm.forward(self.embed.forward(xs))

    def backward(self, dhs):
        return self.embed.backward(self.lstm.backward(dhs))


class AttentionDecoder(Decoder):
    def __init__(self, L, V, D, H):
        self.embed = L.TimeEmbedding((_rn(V, D) / 100).astype("f"))
        self.lstm = _time_lstm(L, D, H, stateful=True)
        self.attention = L.TimeAttention()
        self.affine = L.TimeAffine((_rn(2 * H, V) / np.sqrt(2 * H)).astype("f"), np.zeros(V).astype("f"))
        self.params, self.grads = [], []
        for layer in (self.embed, self.lstm, self.attention, self.affine):
            self.params += layer.params
            self.grads += layer.grads

    def layers(self):
        return super().layers()[:2] + [("dec.attention", self.attention), ("dec.affine", self.affine)]

    def forward(self, xs, enc_hs):
        self.lstm.set_state(enc_hs[:, -1])
        dec_hs = self.lstm.forward(self.embed.forward(xs))
        c = self.attention.forward(enc_hs, dec_hs)
        return self.affine.forward(np.concatenate((c, dec_hs), axis=2))

    def backward(self, dscore):
        dout = self.affine.backward(dscore)
        H = dout.shape[2] // 2
        dc, ddec_hs0 = dout[:, :, :H], dout[:, :, H:]
        denc_hs, ddec_hs1 = self.attention.backward(dc)
        dout = self.lstm.backward(ddec_hs0 + ddec_hs1)
        denc_hs[:, -1] += self.lstm.dh
        self.embed.backward(dout)
        return denc_hs


class AttentionSeq2seq(Seq2seq):
    def __init__(self, L, V, D, H):
        self.encoder = AttentionEncoder(L, V, D, H)
        self.decoder = AttentionDecoder(L, V, D, H)
        self.softmax = L.TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads


# --- ch04: CBOW with negative sampling --------------------------------------------------------


class CBOW:
    def __init__(self, L, V, H, window_size, corpus):
        W_in = 0.01 * _rn(V, H).astype("f")
        W_out = 0.01 * _rn(V, H).astype("f")
        self.in_layers = [L.Embedding(W_in) for _ in range(2 * window_size)]
        self.ns_loss = L.NegativeSamplingLoss(W_out, corpus, power=0.75, sample_size=5)
        self.params, self.grads = [], []
        for layer in self.in_layers + [self.ns_loss]:
            self.params += layer.params
            self.grads += layer.grads

    def layers(self):
        return [(f"in{i}", layer) for i, layer in enumerate(self.in_layers)] + [("ns_loss", self.ns_loss)]

    def forward(self, contexts, target):
        h = 0
        for i, layer in enumerate(self.in_layers):
            h += layer.forward(contexts[:, i])
        h *= 1 / len(self.in_layers)
        return self.ns_loss.forward(h, target)

    def backward(self, dout=1):
        dout = self.ns_loss.backward(dout)
        dout *= 1 / len(self.in_layers)
        for layer in self.in_layers:
            layer.backward(dout)


# --- ch06: BetterRnnlm ------------------------------------------------------------------------


class BetterRnnlm:
    def __init__(self, L, V=10000, D=650, H=650, dropout_ratio=0.5):
        embed_W = (_rn(V, D) / 100).astype("f")
        lstm1 = [(_rn(D, 4 * H) / np.sqrt(D)).astype("f"), (_rn(H, 4 * H) / np.sqrt(H)).astype("f")]
        b1 = np.zeros(4 * H).astype("f")
        lstm2 = [(_rn(H, 4 * H) / np.sqrt(H)).astype("f"), (_rn(H, 4 * H) / np.sqrt(H)).astype("f")]
        b2 = np.zeros(4 * H).astype("f")
        self.layers_ = [
            L.TimeEmbedding(embed_W),
            L.TimeDropout(dropout_ratio),
            L.TimeLSTM(*lstm1, b1, stateful=True),
            L.TimeDropout(dropout_ratio),
            L.TimeLSTM(*lstm2, b2, stateful=True),
            L.TimeDropout(dropout_ratio),
            L.TimeAffine(embed_W.T, np.zeros(V).astype("f")),  # weight tying
        ]
        self.loss_layer = L.TimeSoftmaxWithLoss()
        self.lstm_layers = [self.layers_[2], self.layers_[4]]
        self.params, self.grads = [], []
        for layer in self.layers_:
            self.params += layer.params
            self.grads += layer.grads

    def layers(self):
        names = ("embed", "drop1", "lstm1", "drop2", "lstm2", "drop3", "affine")
        return list(zip(names, self.layers_)) + [("loss", self.loss_layer)]

    def forward(self, xs, ts):
        for layer in self.layers_:
            xs = layer.forward(xs)
        return self.loss_layer.forward(xs, ts)

    def backward(self, dout=1):
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers_):
            dout = layer.backward(dout)
        return dout

    def reset_state(self):
        for layer in self.lstm_layers:
            layer.reset_state()


# --- data, the training step, the table ---------------------------------------------------


def zipf_corpus(V, n, rng):
    """n word ids in [0, V), Zipf-like (rank r with weight 1/r), every id present at least once."""
    p = 1.0 / np.arange(1, V + 1)
    words = rng.choice(V, size=n, p=p / p.sum())
    words[:V] = rng.permutation(V)
    return words


#: model -> (the sizes the bench runs, the tests' sizes: the same code paths, a fraction of the time)
SIZES = {
    "seq2seq": (dict(V=13, D=16, H=128, N=128, Tin=7, Tout=5), dict(V=13, D=16, H=24, N=16, Tin=7, Tout=5)),
    "peeky": (dict(V=13, D=16, H=128, N=128, Tin=7, Tout=5), dict(V=13, D=16, H=24, N=16, Tin=7, Tout=5)),
    "attention": (dict(V=59, D=16, H=256, N=128, Tin=29, Tout=11), dict(V=59, D=16, H=32, N=16, Tin=12, Tout=6)),
    "cbow": (dict(V=10000, H=100, N=100, window=5, corpus=200_000), dict(V=300, H=20, N=20, window=5, corpus=3000)),
    "rnnlm": (dict(V=10000, D=650, H=650, N=20, T=35), dict(V=300, D=40, H=40, N=4, T=8)),
}


def _sizes(name, small):
    return SIZES[name][bool(small)]


MODELS = ("seq2seq", "peeky", "attention", "cbow", "rnnlm")
#: The issue's targets: whole step, book / fastact.
TARGETS = {"seq2seq": 3.0, "peeky": 3.0, "attention": 3.0, "cbow": 3.0, "rnnlm": 2.0}


def build(name, engine_name, seed=1, small=False):
    """(model, optimizer, max_grad, batch): the model from ``seed`` (the book's global
    np.random, as its scripts) and one batch of synthetic data."""
    s = _sizes(name, small)
    L = engine(engine_name)
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    if name in ("seq2seq", "peeky", "attention"):
        cls = AttentionSeq2seq if name == "attention" else Seq2seq
        args = (L, s["V"], s["D"], s["H"]) + ((name == "peeky",) if name != "attention" else ())
        model = cls(*args)
        xs = rng.integers(0, s["V"], (s["N"], s["Tin"]))
        ts = rng.integers(0, s["V"], (s["N"], s["Tout"]))
        return model, R.Adam(), 5.0, (xs, ts)
    if name == "cbow":
        corpus = zipf_corpus(s["V"], s["corpus"], rng)
        model = CBOW(L, s["V"], s["H"], s["window"], corpus)
        w = s["window"]
        centers = rng.integers(w, len(corpus) - w, s["N"])
        contexts = np.stack([corpus[centers + k] for k in range(-w, w + 1) if k != 0], axis=1)
        return model, R.Adam(), None, (contexts, corpus[centers])
    corpus = zipf_corpus(s["V"], s["N"] * s["T"] + 1 + s["V"], rng)
    model = BetterRnnlm(L, s["V"], s["D"], s["H"])
    xs = corpus[: s["N"] * s["T"]].reshape(s["N"], s["T"])
    ts = corpus[1 : s["N"] * s["T"] + 1].reshape(s["N"], s["T"])
    return model, R.SGD(lr=20.0), 0.25, (xs, ts)


def train_step(model, optimizer, max_grad, batch, times=None):
    """What the book's Trainer runs per batch; returns the loss. With ``times``, records the
    seconds of the update (remove_duplicate, clipping, the optimizer) as "update"."""
    loss = model.forward(*batch)
    model.backward()
    t0 = time.perf_counter()
    params, grads = R.remove_duplicate(model.params, model.grads)
    if max_grad is not None:
        R.clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    if times is not None:
        times["update (dedup, clip, optimizer)"] = time.perf_counter() - t0
    return loss


def _instrument(model, times):
    """Time each layer's forward and backward into ``times`` (instance attributes wrap them)."""
    clock = time.perf_counter

    def wrap(key, fn):
        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                times[key] = times.get(key, 0.0) + clock() - t0

        return timed

    for name, layer in model.layers():
        layer.forward = wrap(f"{name}.forward", layer.forward)
        layer.backward = wrap(f"{name}.backward", layer.backward)


def _timed_dot(dot, times):
    clock = time.perf_counter

    def timed(*args, **kwargs):
        t0 = clock()
        try:
            return dot(*args, **kwargs)
        finally:
            times["in BLAS (np.dot)"] = times.get("in BLAS (np.dot)", 0.0) + clock() - t0

    return timed


def measure(name, engines=("book", "fastact"), steps=5, small=False, breakdown=True):
    """Median step seconds per engine, the engines taking turns step by step, and (with
    ``breakdown``) the median seconds per layer and direction from instrumented copies."""
    runs = {e: build(name, e, small=small) for e in engines}
    warm_up([lambda run=runs[e]: train_step(*run) for e in engines])  # compiles (or loads) the kernels
    samples = {e: [] for e in engines}
    for _ in range(steps):
        for e in engines:
            t0 = time.perf_counter()
            train_step(*runs[e])
            samples[e].append(time.perf_counter() - t0)
    medians = {e: float(np.median(samples[e])) for e in engines}
    layers = {}
    if breakdown:
        for e in engines:
            model, opt, max_grad, batch = build(name, e, small=small)
            times = {}
            _instrument(model, times)
            train_step(model, opt, max_grad, batch)
            rows = []
            dot = np.dot
            np.dot = _timed_dot(dot, times)  # both engines call the matmuls as np.dot(...)
            try:
                for _ in range(max(2, steps // 2)):
                    times.clear()
                    t0 = time.perf_counter()
                    train_step(model, opt, max_grad, batch, times)
                    times["step"] = time.perf_counter() - t0
                    rows.append(dict(times))
            finally:
                np.dot = dot
            layers[e] = {key: float(np.median([r.get(key, 0.0) for r in rows])) for key in rows[0]}
    return medians, layers


def report(names=MODELS, steps=9, quick=False):
    """Print a table per model; return (targets met, targets judged)."""
    met = judged = 0
    for name in names:
        start = time.perf_counter()
        medians, layers = measure(name, steps=3 if quick else steps)
        ratio = medians["book"] / medians["fastact"]
        want = TARGETS[name]
        judged += 1
        met += ratio >= want
        print(f"\n{name}: one training step, ms (median); speedup = book / fastact")
        if layers:
            print(f"  {'layer':<32}{'book':>10}{'fastact':>10}{'speedup':>10}")
            special = ("in BLAS (np.dot)", "update (dedup, clip, optimizer)")
            ordered = [k for k in layers["book"] if k not in (*special, "step")] + [
                k for k in special if k in layers["book"]
            ]
            for key in ordered:
                b, f = layers["book"][key], layers["fastact"].get(key, float("nan"))
                print(f"  {key:<32}{b * 1e3:10.2f}{f * 1e3:10.2f}{b / f:9.1f}x")
            key = "update (dedup, clip, optimizer)"
            fb = {e: layers[e]["step"] - layers[e][key] for e in layers}
            print(
                f"  {'forward + backward (no update)':<32}{fb['book'] * 1e3:10.2f}{fb['fastact'] * 1e3:10.2f}"
                f"{fb['book'] / fb['fastact']:9.1f}x"
            )
            print("  (layer rows include the np.dot calls they make; in BLAS counts them all)")
        print(
            f"  {'step':<32}{medians['book'] * 1e3:10.2f}{medians['fastact'] * 1e3:10.2f}{ratio:9.2f}x"
            f"  {'MET' if ratio >= want else 'MISSED'} (target {want:g}x)  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    print(f"\nnlp: {met} of {judged} targets met")
    return met, judged
