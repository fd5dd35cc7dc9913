"""Command line: `python -m tapegrad demo [options]` (see `--help`)."""

from __future__ import annotations

import importlib.util
import sys

# What `demo` imports beyond NumPy: (module, pip package), all in the `examples` extra.
DEMO_NEEDS = (("sklearn", "scikit-learn"), ("tqdm", "tqdm"), ("matplotlib", "matplotlib"))


def missing_for_demo() -> list[str]:
    """The pip packages the demo needs that are not installed."""
    return [pkg for mod, pkg in DEMO_NEEDS if importlib.util.find_spec(mod) is None]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m tapegrad demo [--help] [options]\n\n"
              "commands:\n  demo   train an MLP on digits in a GradientTape loop, print test "
              "accuracy,\n         write the graph of one step (SVG) and learning curves (PNG)")
        return 0
    if argv[0] != "demo":
        print(f"unknown command {argv[0]!r}; try: python -m tapegrad demo --help",
              file=sys.stderr)
        return 2
    missing = missing_for_demo()
    if missing and not any(a in ("-h", "--help") for a in argv[1:]):
        print(f"python -m tapegrad demo needs {', '.join(missing)}, from the `examples` extra:\n"
              f"  pip install 'tapegrad[examples]'   (in a checkout: pip install -e '.[examples]')",
              file=sys.stderr)
        return 1
    from tapegrad.demo import main as demo_main

    demo_main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
