# The two commands a fresh machine needs: `make run` and `make test`.
# Everything Python lives in .venv; the extension is built once per change by maturin.

VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test setup build rust-test loom lint pytest bench bench-python bench-python-feed bench-l2 fuzz bench-backtest bench-paper bench-signals clean

run: build
	$(PY) -m baconalgo run

test: build rust-test loom lint pytest

$(VENV)/.setup: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "maturin>=1.7,<2"
	touch $@

setup: $(VENV)/.setup

# `maturin develop` installs the package's dependencies (and the test extras) too.
build: setup
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH \
		maturin develop --release --extras test --quiet

rust-test:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test -p baconalgo-core

# Model-checks the bus's sequence logic; its own target dir since --cfg loom rebuilds all.
loom:
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
		cargo test -p baconalgo-core --release --lib bus::loom_tests

lint: build
	$(VENV)/bin/ruff check python tests benches examples
	$(VENV)/bin/ruff format --check python tests benches examples
	$(VENV)/bin/mypy

pytest: build
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench:
	cargo bench -p baconalgo-core

# Anchors whose pins clash with the project's (hftbacktest wants numpy < 2.3, nautilus
# pandas < 3) install into their own directory, put first on the path for their bench
# only, so .venv keeps the versions the tests and mypy run on.
BENCH_DEPS ?= .bench-deps

bench-python: build
	$(PY) -m pip install --quiet --upgrade --target $(BENCH_DEPS)/nautilus nautilus_trader
	PYTHONPATH=$(BENCH_DEPS)/nautilus $(PY) benches/bus_python.py

bench-python-feed: build
	$(PY) -m pip install --quiet --upgrade --target $(BENCH_DEPS)/feed nautilus_trader orjson msgspec
	PYTHONPATH=$(BENCH_DEPS)/feed $(PY) benches/feed_python.py

# L2 replay against hftbacktest on a synthetic feed (EVENTS=10000000 by default).
bench-l2: build
	$(PY) -m pip install --quiet --upgrade --target $(BENCH_DEPS)/l2 hftbacktest
	PYTHONPATH=$(BENCH_DEPS)/l2 $(PY) benches/l2_vs_hftbacktest.py

# A short run of each cargo-fuzz target (nightly and cargo-fuzz needed).
FUZZ_SECONDS ?= 60
fuzz:
	cd rust/core && mkdir -p fuzz/corpus/binance_decode && cargo +nightly fuzz run binance_decode \
		fuzz/corpus/binance_decode fuzz/seeds/binance_decode -- -max_total_time=$(FUZZ_SECONDS)

# nautilus_trader pins pandas < 3, so pip picks vectorbt 1.0, whose theme needs plotly < 6.
bench-backtest: build
	$(PY) -m pip install --quiet --upgrade --target $(BENCH_DEPS)/backtest nautilus_trader vectorbt "plotly<6"
	PYTHONPATH=$(BENCH_DEPS)/backtest $(PY) benches/backtest_python.py

bench-paper: build
	$(PY) benches/paper_python.py

clean:
	rm -rf target $(VENV) $(BENCH_DEPS)

# The cost of signals in a bar backtest and in run_market (with vs without, same run).
bench-signals: build
	$(PY) benches/signals_python.py
