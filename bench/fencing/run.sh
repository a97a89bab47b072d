#!/usr/bin/env bash
# Fencing benchmark. Usage: bench/fencing/run.sh [--runs N] [--delay SECONDS] [--random MAX] [--cohort PATH]
# Builds cohort first (through ./cohort) unless --cohort names another program.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case " $* " in
  *" --cohort "*) ;;
  *) "$here/../../cohort" --version >/dev/null ;;
esac
exec python3 "$here/fencing.py" "$@"
