"""Write docs/api.md, the API reference, from the docstrings of every public name.

    python docs/make_api.py          # rewrite docs/api.md
    python docs/make_api.py --check  # exit 1 if docs/api.md is not what the docstrings say

The public names are ``fastact.__all__``, ``fastact.layers.__all__``, ``fastact.functions.__all__``
and ``fastact.util``'s im2col/col2im; for each: its signature, and its docstring, which says
what it computes, how exact it is, its dtypes and errors. Activations also get their line of
the registry (what backward keeps, parameters, the ULP bound).
"""

import inspect
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):  # a NumPy ufunc, or a builtin exception's constructor
        if inspect.isclass(obj):
            return "(message)"
        nin = getattr(obj, "nin", 1)
        args = ", ".join(["x"] + [f"p{i}" for i in range(1, nin)])
        return f"({args}, /, out=None, **ufunc_kwargs)"


def _section(title, module, names):
    from fastact.activations import REGISTRY

    lines = [f"## {title}", ""]
    for name in names:
        obj = getattr(module, name)
        kind = "class" if inspect.isclass(obj) else "ufunc" if type(obj).__name__ == "ufunc" else "function"
        if kind == "function" and not callable(obj):
            continue
        lines.append(f"### `{module.__name__}.{name}{_signature(obj)}` ({kind})")
        lines.append("")
        spec = next((s for s in REGISTRY.values() if name in (s.name, s.layer) and not s.layer_kwargs), None)
        if spec is not None:
            exact = "bit-identical to the NumPy twin" if spec.ulp == 0 else f"within {spec.ulp:g} ULP of the true value"
            params = ", ".join(f"`{p.name}={p.default}`" for p in spec.params) or "none"
            lines.append(
                f"*Registry:* `fastact.{spec.name}` / `fastact.{spec.layer}`; backward keeps the "
                f"{spec.saves} (`layer.{spec.attribute}`); parameters: {params}; {exact}."
            )
            lines.append("")
        doc = (
            inspect.getdoc(obj)
            if kind != "ufunc"
            else (
                f"A NumPy ufunc (float32 and float64 loops; other dtypes by NumPy's casting): "
                f"the element formula of `{name}`. Broadcasting, `out=`, NumPy's dtype rules; "
                "`where=` is not supported (NumPy raises ValueError before writing)."
            )
        )
        lines += [doc or "(no docstring)", ""]
    return lines


def render():
    import fastact
    import fastact.functions
    import fastact.layers
    import fastact.util

    out = [
        "# API reference",
        "",
        "Generated from the docstrings by `python docs/make_api.py`; do not edit by hand.",
        "",
    ]
    top = [n for n in fastact.__all__ if n not in fastact.layers.__all__ and n != "reference"]
    out += _section("fastact: functions and settings", fastact, top)
    out += _section("fastact.layers: every layer (the book's and the family)", fastact.layers, fastact.layers.__all__)
    out += _section("fastact.functions: the book's common/functions.py", fastact.functions, fastact.functions.__all__)
    out += _section("fastact.util: the book's im2col / col2im", fastact.util, ["im2col", "col2im"])
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    target = HERE / "api.md"
    if "--check" in sys.argv:
        current = target.read_text() if target.exists() else ""
        if current != text:
            sys.exit("docs/api.md is out of date: run python docs/make_api.py")
        print("docs/api.md is current")
    else:
        target.write_text(text)
        print(f"wrote {target}")
