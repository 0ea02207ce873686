"""fastact.nlp: drop-ins for the layers of *Deep Learning from Scratch 2* (volume 2).

One import per module, as a reader swaps them::

    from fastact.nlp.layers import *                    # common.layers
    from fastact.nlp.time_layers import *               # common.time_layers
    from fastact.nlp.functions import softmax           # common.functions
    from fastact.nlp.negative_sampling_layer import *   # ch04/negative_sampling_layer
    from fastact.nlp.attention_layer import *           # ch08/attention_layer

``fastact.nlp.reference`` holds the NumPy twins of the book's arithmetic that the tests and
benchmarks compare against. See ``docs/nlp.md``.
"""
