# dfkit — build, test, demo, bench, lint, install.
# `make demo` and `make test` install what they need (scripts/install-deps.sh) first.

PREFIX  ?= /usr/local
CARGO   ?= cargo
BINDIR  := $(PREFIX)/bin
MANDIR  := $(PREFIX)/share/man
# Where `install-files`, `man`, `completions` and `deb` take the built tools from, and
# where the generated files go (scripts/package.sh).
BIN_DIR ?= target/release
DIST    ?= dist
TOOLS   := df-backup-env df-dump-db df-git-update df-perms df-artisan df-restart df-verify df-upgrade df-migrate

.PHONY: all build deps test unit lint fmt demo bench install install-files man completions deb clean reproducible-check nix-parse

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

# Man pages (one per tool and subcommand) into $(DIST)/man/man1.
man: build
	BIN_DIR=$(BIN_DIR) DIST=$(DIST) scripts/package.sh man

# bash, zsh and fish completions into $(DIST)/completions/{bash,zsh,fish}.
completions: build
	BIN_DIR=$(BIN_DIR) DIST=$(DIST) scripts/package.sh completions

# The Debian package (binaries, man pages, completions, docs): $(DIST)/dfkit_VERSION_ARCH.deb.
deb: build
	BIN_DIR=$(BIN_DIR) DIST=$(DIST) scripts/package.sh deb

# The tools, their man pages and completions under $(DESTDIR)$(PREFIX).
install: build
	$(MAKE) install-files

# `install` without building first: installs the tools in $(BIN_DIR).
install-files:
	BIN_DIR=$(BIN_DIR) DIST=$(DIST) scripts/package.sh man
	BIN_DIR=$(BIN_DIR) DIST=$(DIST) scripts/package.sh completions
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	for t in $(TOOLS); do install -m 0755 $(BIN_DIR)/$$t $(DESTDIR)$(BINDIR)/$$t; done
	install -m 0644 $(DIST)/man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(DIST)/completions/bash/* $(DESTDIR)$(PREFIX)/share/bash-completion/completions/
	install -m 0644 $(DIST)/completions/zsh/* $(DESTDIR)$(PREFIX)/share/zsh/site-functions/
	install -m 0644 $(DIST)/completions/fish/* $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/

clean:
	$(CARGO) clean
	rm -rf demo dist

# ansible-core and salt from PyPI for tests/fleet_*.rs, made once in target/fleet-venv.
# `make test` starts the install in the background so it overlaps with the build; the
# tests wait for it (scripts/fleet-venv.sh holds a lock while it installs).
.PHONY: fleet-venv fleet-venv-bg
fleet-venv:
	@scripts/fleet-venv.sh

fleet-venv-bg:
	@scripts/fleet-venv.sh --background

# Two release builds from clean target dirs (paths remapped, SOURCE_DATE_EPOCH): the
# binaries' sha256s must be equal. Slow (two full release builds); not part of `make test`.
reproducible-check:
	@scripts/reproducible-check.sh
