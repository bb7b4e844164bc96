"""``python -m meetstream_catalog.simulator``: run the MeetStream simulator on 127.0.0.1:8765."""

from __future__ import annotations

import argparse

from meetstream_catalog.simulator.server import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meetstream_catalog.simulator", description=__doc__
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
