# flake.nix — healerd for Nix users: the package (nix/package.nix), the NixOS module
# (nix/module.nix), an overlay adding pkgs.healerd, and the settings renderer
# (nix/settings.nix) as lib.renderSettings.
#
#   inputs.healerd.url = "github:OWNER/healerd";
#   nixosConfigurations.HOST = nixpkgs.lib.nixosSystem {
#     modules = [ healerd.nixosModules.default { services.healerd.enable = true; } ];
#   };
{
  description = "healerd: a self-healing agent for Linux and NixOS hosts";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        healerd = pkgs.callPackage ./nix/package.nix { };
        default = healerd;
      });

      overlays.default = final: prev: {
        healerd = final.callPackage ./nix/package.nix { };
      };

      # services.healerd.package defaults to this tree's nix/package.nix built with the host's
      # pkgs (or set it to pkgs.healerd with the overlay).
      nixosModules.default = ./nix/module.nix;
      nixosModules.healerd = self.nixosModules.default;

      lib.renderSettings = import ./nix/settings.nix;

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.system}.default;
      });
    };
}
