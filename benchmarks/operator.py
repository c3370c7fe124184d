"""``benchmarks/operator.py``: thv-operator at scale — the benchmark itself is ``k8s_operator.py``.

A file named ``operator.py`` in this folder shadows the standard library's ``operator`` for every
benchmark here run as a script (their folder comes first on sys.path; argparse → re → enum import
``operator``). So this file holds no code of its own: imported as ``operator`` it hands over to the
standard library's module, run as a script it runs ``k8s_operator.py``.
"""

import sys

if __name__ == "operator":
    # The import system returns what sys.modules holds once this body has run.
    _here = __file__.rpartition("/")[0]
    _path = list(sys.path)
    sys.path[:] = [entry for entry in _path if entry not in ("", ".", _here)]
    del sys.modules["operator"]
    import operator as _stdlib_operator

    sys.path[:] = _path
    sys.modules["operator"] = _stdlib_operator
elif __name__ == "__main__":
    import runpy

    runpy.run_path(__file__.rpartition("/")[0] + "/k8s_operator.py", run_name="__main__")
