{
  description = "dfkit: small, safe tools that upgrade and migrate DreamFactory instances";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-utils.url = "github:numtide/flake-utils";
  };

  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = import nixpkgs { inherit system; };
        lib = pkgs.lib;
        # Rust sources plus the non-Rust fixtures the tests read (scripts/, docs/).
        src = lib.cleanSourceWith {
          src = ./.;
          filter = path: type:
            let rel = lib.removePrefix (toString ./. + "/") (toString path);
            in !(lib.hasPrefix "target" rel) && !(lib.hasPrefix "demo" rel);
        };
        # PHP with the extensions the sandbox install uses (scripts/install-deps.sh's
        # php-mysql php-pgsql php-sqlite3 php-mbstring php-xml); nixpkgs' php builds
        # php-fpm too.
        php = pkgs.php.withExtensions ({ enabled, all }:
          lib.unique (enabled ++ (with all; [ pdo_mysql pdo_pgsql pdo_sqlite mbstring dom xml ])));
        # What the integration tests run for real (scripts/install-deps.sh names the same
        # programs as Debian packages). Not in nixpkgs: Debian's php-laravel-framework
        # (/usr/share/php/Illuminate), which the sandbox install's autoloader requires.
        testInputs = with pkgs; [
          git
          sqlite
          php
          php.packages.composer
          mariadb
          postgresql
          nginx
          apacheHttpd # df-restart's and df-verify's Apache tests (apache2 on Debian)
          openssh # df-migrate push: a real sshd on loopback
          docker # dockerd for df-migrate push and df-restart --via docker
          pkgsStatic.busybox # the test image's rootfs (busybox-static on Debian)
          age
          python3 # the fleet tests' virtualenv (ansible-core, salt from PyPI)
          jq
          zstd
          gzip
          gnutar
          curl
          util-linux # runuser
          nix # nix-instantiate --parse flake.nix (make lint)
        ];
        dfkit = pkgs.rustPlatform.buildRustPackage {
          pname = "dfkit";
          version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version;
          inherit src;
          cargoLock.lockFile = ./Cargo.lock;
          # The integration tests start real database and web servers and need root and
          # Debian's Laravel packages; `nix flake check` runs the unit tests only.
          cargoTestFlags = [ "--lib" ];
          meta = {
            description = "Upgrade and migrate DreamFactory instances, one JSON report per step";
            license = lib.licenses.asl20;
            mainProgram = "df-backup-env";
          };
        };
      in {
        packages.default = dfkit;

        checks = {
          # buildRustPackage runs `cargo test --lib` in its check phase.
          tests = dfkit;
          clippy = dfkit.overrideAttrs (old: {
            pname = "dfkit-clippy";
            nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.clippy ];
            buildPhase = "cargo clippy --offline --locked --all-targets -- -D warnings";
            installPhase = "touch $out";
            doCheck = false;
          });
          fmt = pkgs.runCommand "dfkit-fmt" { nativeBuildInputs = [ pkgs.cargo pkgs.rustfmt ]; } ''
            cd ${src} && cargo fmt --all -- --check && touch $out
          '';
        };

        devShells.default = pkgs.mkShell {
          inputsFrom = [ dfkit ];
          # The rust toolchain comes from dfkit's build inputs (cargo, rustc).
          packages = [ pkgs.clippy pkgs.rustfmt pkgs.hyperfine pkgs.time ] ++ testInputs;
        };
      });
}
