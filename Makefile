# dfkit — build, test, demo, bench, lint, install.
# `make demo` and `make test` install what they need (scripts/install-deps.sh) first.

PREFIX  ?= /usr/local
CARGO   ?= cargo
BINDIR  := $(PREFIX)/bin
TOOLS   := df-backup-env df-dump-db df-git-update df-perms df-artisan df-restart df-verify df-upgrade df-migrate

.PHONY: all build deps test unit lint fmt demo bench install clean

all: build

deps:
	@scripts/install-deps.sh

build:
	$(CARGO) build --locked --release

# Every test: formatting, clippy, unit tests and the integration tests against real
# git, php, composer, sqlite3, MariaDB, PostgreSQL, nginx and php-fpm.
test: deps fleet-venv-bg lint
	$(CARGO) test --locked --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

demo: deps build
	@scripts/demo.sh

bench: build
	@scripts/install-deps.sh --bench
	@scripts/bench.sh

install: build
	install -d $(DESTDIR)$(BINDIR)
	for t in $(TOOLS); do install -m 0755 target/release/$$t $(DESTDIR)$(BINDIR)/$$t; done

clean:
	$(CARGO) clean
	rm -rf demo

# ansible-core and salt from PyPI for tests/fleet_*.rs, made once in target/fleet-venv.
# `make test` starts the install in the background so it overlaps with the build; the
# tests wait for it (scripts/fleet-venv.sh holds a lock while it installs).
.PHONY: fleet-venv fleet-venv-bg
fleet-venv:
	@scripts/fleet-venv.sh

fleet-venv-bg:
	@scripts/fleet-venv.sh --background
