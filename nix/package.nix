# nix/package.nix — healerd as a Nix derivation: the same CMake build as `cmake -S . -B build`,
# installed under $out (bin/healerd, bin/healctl, bin/healerd-plugin, lib/healerd/plugins/*.so,
# the SDK headers and healer-sdk.pc, man pages, docs). Used by flake.nix (packages, overlay) and
# by nix/module.nix as the default services.healerd.package.
{ lib
, stdenv
, cmake
, pkg-config
, libconfig
, zeromq
, msgpack-c
, sqlite
, libmicrohttpd
, jansson
, curl
, systemd
, cmocka
}:

stdenv.mkDerivation {
  pname = "healerd";
  version = "0.1.0";   # CMakeLists.txt's project(VERSION); `healerd --version` says the same

  # The working tree without a developer's build directories, VCS data or Nix results.
  src = lib.cleanSourceWith {
    src = lib.cleanSource ../.;
    filter = path: type:
      let base = baseNameOf path; in
      !(type == "directory" && (base == "build" || lib.hasPrefix "build-" base))
      && !(lib.hasPrefix "result" base);
  };

  nativeBuildInputs = [ cmake pkg-config ];
  # msgpack-c is msgpack-c 6 (msgpack-c.pc); CMakeLists.txt also takes the older msgpack.pc.
  # libsystemd: the service plugin's sd-bus. cmocka: CMakeLists.txt builds the unit tests
  # when it is found (they are not run here, see doCheck).
  buildInputs = [ libconfig zeromq msgpack-c sqlite libmicrohttpd jansson curl systemd cmocka ];

  # The store prefix puts the sample config under $out/etc/healerd (GNUInstallDirs); the NixOS
  # module writes /etc/healerd/healerd.conf itself. The compiled-in plugin_dir and runner path
  # are $out/lib/healerd/plugins and $out/bin/healerd-plugin.
  cmakeFlags = [ "-DCMAKE_BUILD_TYPE=RelWithDebInfo" ];

  # The activation wrapper nixconfig's status_file comes from (plugins/nixconfig/README.md):
  # `healerd-nixos-switch -- --flake /etc/nixos#HOST` instead of `nixos-rebuild switch`.
  # CMake does not install it (a Debian host has no use for it); the fixup phase patches its
  # #!/usr/bin/env bash. It finds nixos-rebuild and nix-env on the caller's PATH.
  postInstall = ''
    install -Dm755 ../scripts/healerd-nixos-switch $out/bin/healerd-nixos-switch
  '';

  # ctest needs what a build sandbox lacks: root, cgroups, real processes to signal, a Nix
  # store, network namespaces, systemd-nspawn. The tests run on a host (`make test`).
  doCheck = false;

  meta = {
    description = "Self-healing agent for Linux and NixOS hosts: detects, plans, heals, verifies, learns";
    platforms = lib.platforms.linux;
    mainProgram = "healerd";
  };
}
