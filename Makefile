# paigong: `make run` sets everything up and serves http://127.0.0.1:5000; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench install assets db clean

$(STAMP): pyproject.toml
	@echo "==> Python 环境 ($(VENV))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

assets: $(STAMP)
	@if [ -f package.json ]; then \
		echo "==> 前端资源 (npm)"; \
		if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; \
		else npm install --no-audit --no-fund --loglevel=error; fi; \
		$(BIN)/python tools/build_assets.py; \
	fi

db: $(STAMP)
	@echo "==> 数据库"
	@$(BIN)/paigong init
	@echo "==> 部署 workflows/"
	@$(BIN)/paigong deploy
	@echo "==> 演示数据"
	@$(BIN)/paigong demo

run: assets db
	@echo "==> 启动 http://127.0.0.1:5000"
	@$(BIN)/paigong serve

test: assets
	@tools/ensure_postgres.sh
	@tools/ensure_browser.sh
	@$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: assets
	@$(BIN)/paigong bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance node_modules
