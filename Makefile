PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-kernels bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,examples,notebooks,tensorboard,onnx,interop]"
	touch $(STAMP)

# One BLAS thread: the demo's small matrices gain nothing from more (README, "Threads").
demo: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m tapegrad demo

# Two test workers on two cores: one BLAS thread each, or they oversubscribe the cores.
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

# The training tests (marker `training`) again under other OpenBLAS kernels: their scores depend
# on the kernel, and a bar measured on one CPU must hold on the others (tools/seed_spread.py).
KERNELS ?= Prescott SkylakeX
test-kernels: $(STAMP)
	for k in $(KERNELS); do \
	  echo "== training tests with OPENBLAS_CORETYPE=$$k"; \
	  OPENBLAS_CORETYPE=$$k OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
	    $(BIN)/python -m pytest -n 2 -q -m training $(PYTEST_ARGS) || exit 1; \
	done

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools

clean:
	rm -rf $(VENV) build dist src/*.egg-info
