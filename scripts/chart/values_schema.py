#!/usr/bin/env python3
"""charts/switchyard/values.schema.json embeds the desired-state file's own JSON Schema (what
`switchyard schema` prints) for config.defaults, config.runners and config.controller's aws and
simulated sections, so that `helm install` refuses what `switchyard validate` would.

    values_schema.py SCHEMA.json          rewrite the chart schema's $defs from SCHEMA.json
    values_schema.py --check SCHEMA.json  exit 1, naming the first difference, if out of date

The hand-written part (the chart's own keys) is left as it is; $defs becomes exactly the
definitions it reaches, taken from the binary's schema.
"""
import json
import sys
from pathlib import Path

CHART_SCHEMA = Path(__file__).resolve().parents[2] / "charts/switchyard/values.schema.json"


def refs(node):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            yield ref[len("#/$defs/"):]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def embedded(chart, binary):
    """The binary's definitions reachable from the chart's own part, by name."""
    own = {k: v for k, v in chart.items() if k != "$defs"}
    wanted, queue = {}, list(refs(own))
    while queue:
        name = queue.pop()
        if name in wanted:
            continue
        if name not in binary["$defs"]:
            sys.exit(f"{CHART_SCHEMA}: $ref to {name}, which `switchyard schema` does not define")
        wanted[name] = binary["$defs"][name]
        queue.extend(refs(wanted[name]))
    return dict(sorted(wanted.items()))


def main(argv):
    check = argv[:1] == ["--check"]
    binary = json.loads(Path(argv[-1]).read_text())
    chart = json.loads(CHART_SCHEMA.read_text())
    defs = embedded(chart, binary)
    if check:
        for name in sorted(set(defs) | set(chart.get("$defs", {}))):
            if defs.get(name) != chart.get("$defs", {}).get(name):
                sys.exit(
                    f"{CHART_SCHEMA}: $defs.{name} differs from `switchyard schema`; "
                    "refresh it with `make chart-schema`"
                )
        return
    chart["$defs"] = defs
    CHART_SCHEMA.write_text(json.dumps(chart, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
