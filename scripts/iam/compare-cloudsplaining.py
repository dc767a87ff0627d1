#!/usr/bin/env python3
"""Compare vigilo-iam's escalation findings with Cloudsplaining's on the same file.

Usage:
    compare-cloudsplaining.py CLOUDSPLAINING_RESULTS_JSON VIGILO_JSON

CLOUDSPLAINING_RESULTS_JSON is the iam-results-*.json that
`cloudsplaining scan --input-file FILE --output DIR` writes; VIGILO_JSON is the
JSON report of vigilo-iam on FILE (for example
`cargo run --release -p vigilo-iam --example audit_file -- FILE json`).

Cloudsplaining reports per policy; a principal's result here is the union of
the findings of its own policies and of its groups' policies, which is what a
reader of its report would conclude.
"""
import json
import sys
from collections import defaultdict


CATEGORIES = {
    "DataExfiltration": "iam.data_exfiltration",
    "ResourceExposure": "iam.resource_exposure",
    "CredentialsExposure": "iam.credentials_exposure",
    "InfrastructureModification": "iam.infrastructure_modification",
    "ServiceWildcard": "iam.service_wildcard",
}


def principal_policies(d):
    """name -> list of policy ids in effect (own and groups')."""
    groups = d.get("groups", {})

    def policies_of(entry):
        ids = []
        for kind in ("customer_managed_policies", "aws_managed_policies", "inline_policies"):
            ids.extend(entry.get(kind, {}).keys())
        return ids

    out = {}
    for kind in ("users", "roles"):
        for entry in d.get(kind, {}).values():
            ids = policies_of(entry)
            for g in entry.get("groups", {}) or {}:
                ge = groups.get(g) or next((x for x in groups.values() if x.get("name") == g), None)
                if ge:
                    ids.extend(policies_of(ge))
            out[entry["name"]] = ids
    return out


def all_policies(d):
    out = {}
    for kind in ("customer_managed_policies", "aws_managed_policies", "inline_policies"):
        out.update(d.get(kind, {}))
    return out


def cloudsplaining_categories(path):
    d = json.load(open(path))
    pols = all_policies(d)
    counts = defaultdict(set)
    for name, ids in principal_policies(d).items():
        for pid in ids:
            p = pols.get(pid, {})
            for cat in CATEGORIES:
                v = p.get(cat)
                if isinstance(v, dict) and v.get("findings"):
                    counts[cat].add(name)
    return counts


def vigilo_categories(path):
    d = json.load(open(path))
    counts = defaultdict(set)
    for f in d["findings"]:
        if f["principal_type"] in ("user", "role"):
            counts[f["check_id"]].add(f["principal"])
    return counts


def cloudsplaining_methods(path):
    d = json.load(open(path))
    by_policy = {}
    for kind in ("customer_managed_policies", "aws_managed_policies", "inline_policies"):
        for pid, p in d.get(kind, {}).items():
            esc = p.get("PrivilegeEscalation", {})
            types = {f["type"] for f in esc.get("findings", [])} if isinstance(esc, dict) else set()
            by_policy[pid] = (types, p.get("is_excluded", False))
    out = defaultdict(set)
    groups = d.get("groups", {})

    def policies_of(entry):
        ids = []
        for kind in ("customer_managed_policies", "aws_managed_policies", "inline_policies"):
            ids.extend(entry.get(kind, {}).keys())
        return ids

    for kind in ("users", "roles"):
        for entry in d.get(kind, {}).values():
            name = entry["name"]
            ids = policies_of(entry)
            for g in entry.get("groups", {}) or {}:
                ge = groups.get(g) or next((x for x in groups.values() if x.get("name") == g), None)
                if ge:
                    ids.extend(policies_of(ge))
            for pid in ids:
                types, _ = by_policy.get(pid, (set(), False))
                out[name] |= types
            out.setdefault(name, set())
    return out


def vigilo_methods(path):
    d = json.load(open(path))
    out = defaultdict(set)
    for f in d["findings"]:
        if f["check_id"] == "iam.privilege_escalation":
            out[f["principal"]].add(f["method"])
    return out


def main():
    cs = cloudsplaining_methods(sys.argv[1])
    vg = vigilo_methods(sys.argv[2])
    names = sorted(set(cs) | set(vg))
    groups = {"privesc1-21": lambda n: n.startswith("privesc") and n[7:8].isdigit(),
              "privesc-*": lambda n: n.startswith("privesc-"),
              "fn*": lambda n: n.startswith("fn"),
              "fp*": lambda n: n.startswith("fp"),
              "other": lambda n: not n.startswith(("privesc", "fn", "fp"))}
    print(f"{'group':<12} {'principals':>10} {'cloudsplaining flagged':>24} {'vigilo flagged':>16}")
    for g, pred in groups.items():
        members = [n for n in names if pred(n)]
        print(f"{g:<12} {len(members):>10} {sum(1 for n in members if cs.get(n)):>24} {sum(1 for n in members if vg.get(n)):>16}")
    print()
    print("users and roles flagged per category (cloudsplaining | vigilo):")
    csc, vgc = cloudsplaining_categories(sys.argv[1]), vigilo_categories(sys.argv[2])
    print(f"  {'PrivilegeEscalation':<28} {sum(1 for n in cs if cs[n]):>4} | {sum(1 for n in vg if vg[n]):>4}")
    for cat, cid in CATEGORIES.items():
        print(f"  {cat:<28} {len(csc[cat]):>4} | {len(vgc[cid]):>4}")
    print(f"  {'admin (vigilo only)':<28} {'-':>4} | {len(vgc['iam.admin_access']):>4}")
    print()
    print("per principal (cloudsplaining | vigilo):")
    for n in names:
        a, b = sorted(cs.get(n, ())), sorted(vg.get(n, ()))
        if a or b:
            print(f"  {n}: {', '.join(a) or '-'} | {', '.join(b) or '-'}")


if __name__ == "__main__":
    main()
