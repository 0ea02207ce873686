"""Compiled code and the private runtime around it: scalar math, formulas, kernels, dispatch
and layouts, row and window kernels, gemm, thresholds and the thread pool. The only directory
in the kernels' cache hash (``kernels._source_tag``)."""
