# The README's commands. Everything they need is installed by cargo from crates.io.
CARGO ?= cargo

.PHONY: demo test bench torture fuzz report-check install build clean

build:
	$(CARGO) build --release --locked

## demo: build, start the sandbox, import samples/users.csv, export both rosters, stop the sandbox
demo: build
	ROSTER_BIN=target/release/roster bash scripts/demo.sh

## test: formatting, lints and the whole test suite
test:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) test --locked

## bench: throughput and memory benchmarks (figures on stdout)
bench: build
	$(CARGO) bench --locked --bench pipeline

## torture: SIGKILL import (add, update, upsert) and migrate --apply at 100 random moments with
## faults on, --resume after each; asserts no user created twice and no row lost (a few minutes)
torture:
	$(CARGO) test --locked --test it torture -- --ignored --nocapture

## fuzz: the CSV -> validation -> request-body property tests with many cases (about 10 minutes)
fuzz:
	ROSTER_FUZZ_CASES=$${ROSTER_FUZZ_CASES:-1250000} $(CARGO) test --release --locked --test fuzz

## report-check: the HTML report in a real browser: pages from the sandbox, rendered by headless
## Chromium in light and dark mode, failing on an empty or broken page (needs chromium)
report-check: build
	ROSTER_BIN=target/release/roster bash scripts/report-check.sh

install:
	$(CARGO) install --locked --path .

clean:
	$(CARGO) clean
