#!/usr/bin/env bash
# Rule hygiene: sigma-cli's `sigma check` over the bundled packs (rules/),
# failing on any issue. Validators that only encode SigmaHQ's own repository
# conventions are switched off in scripts/sigma/validation.yml (see there).
#
#   scripts/sigma-check.sh            (the bundled packs)
#   scripts/sigma-check.sh DIR ...    (other rule folders, same checks)
#   SIGMA_CHECK_CONFIG=none ...       (every validator, as plain `sigma check`)
#
# The ATT&CK and D3FEND tag validators need MITRE's catalogues, which pySigma
# 1.x downloads from the internet on first use. CI has no internet, so the
# catalogues come from pySigma 0.11's bundled copy (a registry package, ATT&CK
# 17.0, D3FEND 0.16) and are handed to the checker's cache before it starts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cli_version="3.1.0"
pysigma_version="1.5.1"
catalogue_version="0.11.23"

installed() {
    python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null
}
if ! installed sigma-cli "$cli_version" || ! installed pysigma "$pysigma_version"; then
    python3 -m pip install --quiet --disable-pip-version-check \
        "sigma-cli==$cli_version" "pysigma==$pysigma_version"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --dest "$work" "pysigma==$catalogue_version"
wheel="$(ls "$work"/pysigma-"$catalogue_version"-*.whl)"

config="${SIGMA_CHECK_CONFIG:-$here/sigma/validation.yml}"
args=(check --fail-on-error --fail-on-issues)
[ "$config" = none ] || args+=(--validation-config "$config")
if [ "$#" -eq 0 ]; then
    args+=("$root/rules")
else
    args+=("$@")
fi

python3 - "$wheel" "$work/cache" "${args[@]}" <<'PY'
import sys
import zipfile

import diskcache
from sigma.data import mitre_attack, mitre_d3fend

wheel, cache_dir, *argv = sys.argv[1:]
catalogue = {}
with zipfile.ZipFile(wheel) as z:
    for module in ("mitre_attack", "mitre_d3fend"):
        exec(z.read(f"sigma/data/{module}.py"), catalogue)

def keys(prefix, names):
    return {f"{prefix}_{name}": catalogue.get(f"{prefix}_{name}", {}) for name in names}

# The same dictionaries pySigma 1.5 builds from a download, under its cache keys.
attack = keys("mitre_attack", ["version", "tactics", "techniques",
    "techniques_tactics_mapping", "intrusion_sets", "software", "datasources", "mitigations"])
d3fend = keys("mitre_d3fend", ["version", "tactics", "techniques", "artifacts"])
for module, key, data in ((mitre_attack, "mitre_attack_data", attack),
                          (mitre_d3fend, "mitre_d3fend_data", d3fend)):
    path = f"{cache_dir}/{key}"
    with diskcache.Cache(path) as cache:
        cache.set(key, data)
    module.set_cache_dir(path)

from sigma.cli.main import main

sys.argv = ["sigma", *argv]
main()
PY
