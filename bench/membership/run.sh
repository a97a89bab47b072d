#!/usr/bin/env bash
# Membership benchmark. Usage: bench/membership/run.sh [--runs N] [--soak SECONDS] [--cohort PATH]
# Builds cohort first (through ./cohort) unless --cohort names another program.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case " $* " in
  *" --cohort "*) ;;
  *) "$here/../../cohort" --version >/dev/null ;;
esac
case " $* " in
  *" --soak "*)
    if ! command -v stress-ng >/dev/null 2>&1; then
      echo "membership bench: installing stress-ng" >&2
      sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
      $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq stress-ng >/dev/null
    fi ;;
esac
exec python3 "$here/membership.py" "$@"
