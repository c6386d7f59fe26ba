# dfkit — build, test, demo, bench, lint, install.
# `make demo` and `make test` install what they need (scripts/install-deps.sh) first.

PREFIX  ?= /usr/local
CARGO   ?= cargo
BINDIR  := $(PREFIX)/bin
TOOLS   := df-backup-env df-dump-db df-git-update df-perms df-artisan df-restart df-verify df-upgrade df-migrate

.PHONY: all build deps test unit lint fmt demo bench install clean reproducible-check nix-parse

all: build

deps:
	@scripts/install-deps.sh

build:
	$(CARGO) build --locked --release

# Every test: formatting, clippy, unit tests and the integration tests against real
# git, php, composer, sqlite3, MariaDB, PostgreSQL, nginx and php-fpm.
test: deps lint
	$(CARGO) test --locked --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	@$(MAKE) --no-print-directory nix-parse

# flake.nix must parse (nix-instantiate from Debian's nix-bin; scripts/install-deps.sh).
nix-parse:
	NIX_CONFIG='build-users-group =' nix-instantiate --parse flake.nix >/dev/null

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

# Two release builds from clean target dirs (paths remapped, SOURCE_DATE_EPOCH): the
# binaries' sha256s must be equal. Slow (two full release builds); not part of `make test`.
reproducible-check:
	@scripts/reproducible-check.sh
