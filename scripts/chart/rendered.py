#!/usr/bin/env python3
"""Splits one `helm template` output for the checks, and checks what the rendering must hold.

    rendered.py RENDERED.yaml OUTDIR [--expect KIND ...] [--absent KIND ...] [--rules FILE]

Writes OUTDIR/kubernetes.yaml (the built-in kinds, for kubernetes-validate),
OUTDIR/monitoring.json (the monitoring.coreos.com objects, for validate_monitoring.mjs) and
OUTDIR/switchyard.yaml (the desired-state file inside the ConfigMap, for `switchyard validate`).
--rules: the PrometheusRule's spec must be exactly that plain Prometheus rule file, so the
Prometheus templates in it ({{ $labels.runner }}) survive Helm untouched.
Reads the rendering with PyYAML, not with anything of switchyard's.
"""
import argparse
import json
import sys
from pathlib import Path

import yaml


def fail(message):
    sys.exit(f"chart check: {message}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rendered", type=Path)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--expect", nargs="*", default=[])
    parser.add_argument("--absent", nargs="*", default=[])
    parser.add_argument("--rules", type=Path)
    args = parser.parse_args()

    docs = [d for d in yaml.safe_load_all(args.rendered.read_text()) if d]
    kinds = [d["kind"] for d in docs]
    for kind in args.expect:
        if kind not in kinds:
            fail(f"{args.rendered}: no {kind} rendered (kinds: {', '.join(kinds)})")
    for kind in args.absent:
        if kind in kinds:
            fail(f"{args.rendered}: a {kind} is rendered, and must not be")

    monitoring = [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")]
    builtin = [d for d in docs if d not in monitoring]
    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.outdir / "kubernetes.yaml").write_text(yaml.safe_dump_all(builtin, sort_keys=False))
    (args.outdir / "monitoring.json").write_text(json.dumps(monitoring))

    # Other ConfigMaps (a Grafana dashboard) may be rendered beside the desired-state file.
    config_maps = [
        d for d in docs if d["kind"] == "ConfigMap" and "switchyard.yaml" in d.get("data", {})
    ]
    if len(config_maps) != 1:
        fail(f"{args.rendered}: expected one ConfigMap with the key switchyard.yaml, "
             f"found {len(config_maps)}")
    (args.outdir / "switchyard.yaml").write_text(config_maps[0]["data"]["switchyard.yaml"])

    if args.rules:
        rules = yaml.safe_load(args.rules.read_text())
        specs = [d["spec"] for d in monitoring if d["kind"] == "PrometheusRule"]
        if specs != [rules]:
            fail(f"{args.rendered}: the PrometheusRule's spec is not {args.rules} verbatim")
        if "{{ $labels." not in args.rules.read_text():
            fail(f"{args.rules}: no Prometheus template to prove it survives Helm")

    print(f"{args.rendered}: {len(builtin)} Kubernetes and {len(monitoring)} monitoring objects")


if __name__ == "__main__":
    main()
