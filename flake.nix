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
        # What the integration tests run for real.
        testInputs = with pkgs; [
          git sqlite php php.packages.composer mariadb postgresql nginx jq zstd curl
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
          packages = [ pkgs.clippy pkgs.rustfmt pkgs.hyperfine ] ++ testInputs;
        };
      });
}
