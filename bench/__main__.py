"""Run every available bench (`bench/*_bench.py`, each exposing `main() -> None`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def run_all(selected: list[str]) -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
        if module.endswith("_bench") and (not selected or module in selected):
            print(f"== {module}", flush=True)
            importlib.import_module(f"bench.{module}").main()


if __name__ == "__main__":
    run_all(sys.argv[1:])
