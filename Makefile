# The README's commands. Everything they need is installed by cargo from crates.io.
CARGO ?= cargo

.PHONY: demo test bench install build clean

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

install:
	$(CARGO) install --locked --path .

clean:
	$(CARGO) clean
