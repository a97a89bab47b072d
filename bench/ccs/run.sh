#!/usr/bin/env bash
# CCS benchmark. Usage: bench/ccs/run.sh [--runs N] [--cohort PATH]
# Builds cohort first (through ./cohort) unless --cohort names another program.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case " $* " in
  *" --cohort "*) ;;
  *) "$here/../../cohort" --version >/dev/null ;;
esac
exec python3 "$here/ccs.py" "$@"
