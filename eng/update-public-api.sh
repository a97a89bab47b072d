#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to
# Abstractions/Cohort.Abstractions/PublicAPI.Unshipped.txt, and drops declared symbols that no
# longer exist (RS0017). Review the diff: it is the public API change you are making.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$root/Abstractions/Cohort.Abstractions/Cohort.Abstractions.csproj"
unshipped="$root/Abstractions/Cohort.Abstractions/PublicAPI.Unshipped.txt"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
dotnet build "$project" -c Release -nologo -p:TreatWarningsAsErrors=false --no-incremental >"$log" 2>&1 || true
python3 - "$log" "$unshipped" <<'PY'
import re, sys
log, path = sys.argv[1], sys.argv[2]
text = open(log, encoding="utf-8").read()
add = set(re.findall(r"RS0016: Symbol '(.+?)' is not part of the declared public API", text))
remove = set(re.findall(r"RS0017: Symbol '(.+?)' is part of the declared API, but is either not public or could not be found", text))
lines = [l for l in open(path, encoding="utf-8").read().splitlines() if l and not l.startswith("#nullable")]
lines = sorted((set(lines) - remove) | add, key=lambda s: s.lstrip("~").replace("static ", "").replace("override ", "").replace("const ", "").replace("abstract ", "").replace("virtual ", ""))
open(path, "w", encoding="utf-8").write("#nullable enable\n" + "".join(l + "\n" for l in lines))
print(f"added {len(add)}, removed {len(remove)}")
PY
