#!/usr/bin/env bash
# Runs every test of Cohort. On a fresh machine it first installs what the tests need (Debian
# packages via apt-get), then builds, runs every test project, and ends with one line:
#   N passed, N failed[, N skipped]
set -uo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
cd "$root"

# Commands the tests use, and the Debian package that provides each.
declare -A needed=(
    [python3]=python3      # test helpers (a stale Unix socket left by a process that exits), trx parsing
    [flock]=util-linux     # ./cohort serialises concurrent builds
    [setsid]=util-linux    # the script and external fence agents run programs in a process group of their own
    [fence_dummy]=fence-agents   # the external fence agent's tests drive real fence-agents programs (fence_dummy, fence_apc)
    [fence_ipmilan]=fence-agents
    [ipmi_sim]=openipmi          # a BMC simulator fence_ipmilan speaks RMCP+ to
    [ipmitool]=ipmitool          # fence_ipmilan drives IPMI through it
)
missing=()
for command in "${!needed[@]}"; do
    # fence-agents installs to /usr/sbin, often outside a user's PATH.
    command -v "$command" >/dev/null 2>&1 || [[ -x "/usr/sbin/$command" ]] || missing+=("${needed[$command]}")
done
if ((${#missing[@]} > 0)); then
    echo "test.sh: installing ${missing[*]}" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
        || { echo "test.sh: could not install ${missing[*]}" >&2; echo "0 passed, 1 failed"; exit 1; }
fi
command -v dotnet >/dev/null 2>&1 || { echo "test.sh: the .NET 10 SDK (dotnet) is needed" >&2; echo "0 passed, 1 failed"; exit 1; }

echo "test.sh: building" >&2
if ! dotnet build Cohort.slnx -c Release -nologo -v quiet -clp:"ErrorsOnly;NoSummary"; then
    echo "test.sh: the build failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# Simulation suites run for this many wall-clock seconds each (CI: about a minute).
export COHORT_SIM_SECONDS="${COHORT_SIM_SECONDS:-60}"
echo "test.sh: simulation suites run for ${COHORT_SIM_SECONDS} s each (COHORT_SIM_SECONDS)" >&2

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
# One dotnet test per project, in parallel, each writing its own result file.
projects=(tests/*/*.Tests.csproj)
status=0
pids=()
for project in "${projects[@]}"; do
    name="$(basename "$project" .csproj)"
    dotnet test "$project" -c Release --no-build --nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
        -- NUnit.DefaultTimeout=300000 &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done

python3 - "$results" "$status" "${#projects[@]}" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
files = glob.glob(sys.argv[1] + "/*.trx")
for path in files:
    root = ET.parse(path).getroot()
    for out in root.iterfind(".//t:UnitTestResult/t:Output/t:StdOut", ns):
        for line in (out.text or "").splitlines():
            if "schedules" in line:
                print("test.sh: " + line.strip(), file=sys.stderr)  # what the simulation suites covered
    counters = root.find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
    # An ignored test is in neither notExecuted nor inconclusive: it is counted in total, not in executed.
    skipped += max(int(counters.get("notExecuted", 0)) + int(counters.get("inconclusive", 0)),
                   int(counters.get("total", 0)) - int(counters.get("executed", 0)))
if int(sys.argv[2]) != 0 and failed == 0:
    failed = 1  # a test host crashed or a project did not run: count it, never report green
missing = int(sys.argv[3]) - len(files)
if missing > 0:
    print(f"test.sh: {missing} test project(s) produced no results", file=sys.stderr)
    failed += missing
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
