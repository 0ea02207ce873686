"""Running Python in a fresh interpreter: for what must start clean (environment variables read
at import, forks, OpenMP's pool) or may crash without taking the caller down."""

import os
import subprocess
import sys
import textwrap


def run_python(code=None, *, module=None, args=(), env=None, unset=(), timeout=300, cwd=None, check=True):
    """Run ``python -c code`` (dedented) or ``python -m module args`` with this interpreter, in
    this process's environment less the names in ``unset``, plus ``env``. Return the
    CompletedProcess (text output captured); with ``check``, a non-zero exit fails with the
    output in the message."""
    assert (code is None) != (module is None), "code or module, one of them"
    command = [sys.executable, "-c", textwrap.dedent(code)] if module is None else [sys.executable, "-m", module]
    environment = {k: v for k, v in os.environ.items() if k not in unset} | (env or {})
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, env=environment, cwd=cwd
    )
    if check:
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-8000:]}\n{result.stderr[-8000:]}"
    return result
