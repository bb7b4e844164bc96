"""`python -m meetstream_catalog.webhooks`: the same as `meetstream-catalog webhooks`."""

import argparse
import sys

from meetstream_catalog.webhooks.server import add_arguments, run

parser = argparse.ArgumentParser(
    prog="python -m meetstream_catalog.webhooks", description=run.__doc__
)
add_arguments(parser)
sys.exit(run(parser.parse_args()))
