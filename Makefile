# switchyard — the two commands a newcomer needs are `make demo` and `make test`.
CARGO ?= cargo
# Outside the clone, so that repeated runs (and CI on the same machine) build incrementally.
CARGO_TARGET_DIR ?= $(HOME)/.cache/switchyard-target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/debug/switchyard
RELEASE_BIN := $(CARGO_TARGET_DIR)/release/switchyard

.PHONY: build demo test e2e alerts lint bench soak tools delivery chart systemd image chart-schema

build:
	$(CARGO) build --locked

## Play the three stories of config/demo.yaml on the simulated cloud (no AWS account needed).
demo: build
	SWITCHYARD=$(BIN) scripts/demo.sh

## Everything: unit, property, controller, simulation and end-to-end tests, then the delivery
## checks (Helm chart, systemd unit, container image).
test: build tools
	$(CARGO) test --locked --all-targets
	$(MAKE) --no-print-directory delivery

## helm, kubernetes-validate and the Prometheus Operator's schemas, pinned, into .tools/.
tools:
	@scripts/tools.sh >/dev/null

delivery: chart systemd image

## The chart: lint, render, Kubernetes and CRD schemas, the rendered desired-state file.
chart: build tools
	SWITCHYARD=$(BIN) scripts/check-chart.sh

## deploy/systemd/switchyard.service: systemd-analyze verify (silent) and security.
systemd: build
	SWITCHYARD=$(BIN) scripts/check-systemd.sh

## The Containerfile, built with buildah on a base made from Debian packages, and run.
image:
	$(CARGO) build --locked --release
	SWITCHYARD_RELEASE=$(RELEASE_BIN) scripts/check-image.sh

## Refresh the desired-state definitions that charts/switchyard/values.schema.json embeds.
chart-schema: build
	$(BIN) schema > $(CARGO_TARGET_DIR)/desired-state.schema.json
	python3 scripts/chart/values_schema.py $(CARGO_TARGET_DIR)/desired-state.schema.json

## End-to-end tests only: the real binary against moto's server on loopback.
e2e:
	$(CARGO) test --locked --test 'e2e*' --test aws_moto

## The alert rules, their promtool tests, the dashboard's queries, and the path from a halt to
## a notification through a real Prometheus and Alertmanager (see docs/alerts.md).
alerts:
	$(CARGO) test --locked --test alert_rules --test e2e_alerts

## rustfmt, clippy (warnings are errors), and cargo deny (advisories offline, licenses, bans).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	scripts/deny.sh

bench:
	$(CARGO) bench --locked

## Deterministic simulation at volume: 100,000 seeds in an optimised build; prints seeds/s and
## the simulated hours covered (see TESTING.md).
SOAK_SEEDS ?= 100000
soak:
	SWITCHYARD_SIM_SEEDS=$(SOAK_SEEDS) SWITCHYARD_SIM_FIRST=$${SWITCHYARD_SIM_FIRST:-1000000} \
		$(CARGO) test --locked --release --test simulation -- seeds --exact --nocapture
