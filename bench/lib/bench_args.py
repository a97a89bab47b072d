"""What every benchmark's command line shares: --cohort (the program to run) and --runs, checked."""

import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def parse(parser):
    """Adds --cohort to a parser that defines --runs, parses, and checks both; returns the arguments."""
    parser.add_argument("--cohort", default=os.path.join(REPO, "artifacts", "cohort", "cohort"),
                        help="the cohort program (default: the build in artifacts/cohort)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not os.access(args.cohort, os.X_OK):
        sys.exit(f"{args.cohort}: not found or not executable; run ./cohort --version first to build it")
    return args
