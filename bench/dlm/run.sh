#!/usr/bin/env bash
# DLM benchmark, the in-process part. Usage: bench/dlm/run.sh [--quick] [--only local|recovery|memory]...
# Builds the bench (Release) first, then runs it; the arguments go to the bench.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
dotnet build "$here/Cohort.Dlm.Bench/Cohort.Dlm.Bench.csproj" -c Release -nologo -v quiet -clp:"ErrorsOnly;NoSummary" >&2
exec dotnet "$root/artifacts/bin/Cohort.Dlm.Bench/release/Cohort.Dlm.Bench.dll" "$@"
