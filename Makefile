# switchyard — the two commands a newcomer needs are `make demo` and `make test`.
CARGO ?= cargo
# Outside the clone, so that repeated runs (and CI on the same machine) build incrementally.
CARGO_TARGET_DIR ?= $(HOME)/.cache/switchyard-target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/debug/switchyard

.PHONY: build demo test unit e2e alerts lint bench soak

build:
	$(CARGO) build --locked

## Play the three stories of config/demo.yaml on the simulated cloud (no AWS account needed).
demo: build
	SWITCHYARD=$(BIN) scripts/demo.sh

## Everything: unit, property, controller, simulation and end-to-end tests.
test:
	$(CARGO) test --locked --all-targets

## End-to-end tests only: the real binary against moto's server on loopback.
e2e:
	$(CARGO) test --locked --test 'e2e*' --test aws_moto

## The alert rules, their promtool tests, the dashboard's queries, and the path from a halt to
## a notification through a real Prometheus and Alertmanager (see docs/alerts.md).
alerts:
	$(CARGO) test --locked --test alert_rules --test e2e_alerts

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

bench:
	$(CARGO) bench --locked

## Deterministic simulation at volume: 100,000 seeds in an optimised build; prints seeds/s and
## the simulated hours covered (see TESTING.md).
SOAK_SEEDS ?= 100000
soak:
	SWITCHYARD_SIM_SEEDS=$(SOAK_SEEDS) SWITCHYARD_SIM_FIRST=$${SWITCHYARD_SIM_FIRST:-1000000} \
		$(CARGO) test --locked --release --test simulation -- seeds --exact --nocapture
