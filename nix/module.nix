# nix/module.nix — the NixOS module: services.healerd.{enable, package, settings, plugins,
# extraPlugins, tokenFile, generateToken, extraPath}. Renders settings to
# /etc/healerd/healerd.conf (nix/settings.nix), gathers the plugins, and runs the agent as
# systemd.services.healerd (Type=notify, watchdog, reload checked by --check-config first).
{ config, lib, pkgs, ... }:

let
  inherit (lib)
    concatMapStringsSep literalExpression mkDefault mkEnableOption mkIf mkOption
    optionalString types;

  cfg = config.services.healerd;
  render = import ./settings.nix;
  json = (pkgs.formats.json { }).type;

  configPath = "/etc/healerd/healerd.conf";
  configFile = pkgs.writeText "healerd.conf" (render cfg.settings);

  # Every .so of the package and of extraPlugins, by file name; two of one name fail the build
  # here rather than as a refused duplicate when the agent starts.
  pluginLinks = pkgs.runCommand "healerd-plugins" { } ''
    mkdir -p $out
    for p in ${concatMapStringsSep " " toString ([ cfg.package ] ++ cfg.extraPlugins)}; do
      for so in "$p"/lib/healerd/plugins/*.so; do
        [ -e "$so" ] || continue
        name=''${so##*/}
        if [ -e "$out/$name" ]; then
          echo "healerd: two plugins named $name: $(readlink "$out/$name") and $so" >&2
          exit 1
        fi
        ln -s "$so" "$out/$name"
      done
    done
  '';

  # The loader refuses a plugin_dir below a directory its group may write, and a multi-user
  # /nix/store is root:nixbld 1775 (agent/loader_fs.c: a sticky bit does not make it safe).
  # So the plugins are copied at each start into a root-only runtime directory; a change of
  # the set restarts the unit (restartTriggers).
  runtimePluginDir = "/run/healerd/plugins";

  prestart = pkgs.writeShellScript "healerd-prestart" ''
    set -eu
    PATH=${lib.makeBinPath [ pkgs.coreutils ]}
    umask 022
    rm -rf ${runtimePluginDir}.new
    mkdir -m 0755 ${runtimePluginDir}.new
    for so in ${pluginLinks}/*.so; do
      [ -e "$so" ] || continue
      install -m 0644 -o root -g root "$(readlink -f "$so")" "${runtimePluginDir}.new/''${so##*/}"
    done
    rm -rf ${runtimePluginDir}
    mv ${runtimePluginDir}.new ${runtimePluginDir}
    ${optionalString (cfg.tokenFile != null && cfg.generateToken) ''
      # A root-only bearer token for the API's POSTs, made once (healctl reads the same file).
      if [ ! -e ${lib.escapeShellArg cfg.tokenFile} ]; then
        umask 077
        mkdir -p "$(dirname ${lib.escapeShellArg cfg.tokenFile})"
        tok=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')
        printf '%s\n' "$tok" > ${lib.escapeShellArg cfg.tokenFile}.tmp
        mv ${lib.escapeShellArg cfg.tokenFile}.tmp ${lib.escapeShellArg cfg.tokenFile}
      fi
    ''}
  '';

  pluginType = types.submodule {
    freeformType = json;
    options.enabled = mkOption {
      type = types.bool;
      default = true;
      description = "Load this plugin (a plugin without a section is loaded too, with its defaults).";
    };
  };
in
{
  options.services.healerd = {
    enable = mkEnableOption "healerd, the self-healing agent";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The healerd package (agent, healctl, healerd-plugin, built-in plugins).";
    };

    settings = mkOption {
      # Free-form (every key of healerd.conf(5)); agent.mode is typed so that a typo fails at
      # evaluation instead of at the agent's start.
      type = types.submodule {
        freeformType = json;
        options.agent = mkOption {
          type = types.submodule {
            freeformType = json;
            options.mode = mkOption {
              type = types.enum [ "live" "dry-run" ];
              default = "dry-run";
              description = "\"dry-run\" (the default, as the installed configuration): plan and report, change nothing; \"live\": heal.";
            };
          };
          default = { };
          description = "The agent section of healerd.conf.";
        };
      };
      default = { };
      example = literalExpression ''
        {
          agent.mode = "live";
          limits.max_heals_per_hour = 5;
          protect.names = [ "postgres" ];
        }
      '';
      description = ''
        healerd.conf as Nix values, rendered to libconfig by nix/settings.nix: attribute sets
        are groups, lists of scalars arrays, other lists lists, null leaves a key out. Every
        key is in healerd.conf(5) and in the plugins' READMEs. The module sets agent.mode to
        "dry-run" (as the installed default), agent.state_dir, agent.plugin_dir and
        http.token_file.
      '';
    };

    plugins = mkOption {
      type = types.attrsOf pluginType;
      default = { };
      example = literalExpression ''
        {
          nixconfig = { auto_rollback = true; };
          thermal.enabled = false;
        }
      '';
      description = "Each plugin's section, `plugins.<name>` of healerd.conf (merged into settings.plugins).";
    };

    extraPlugins = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = ''
        Packages whose lib/healerd/plugins/*.so are loaded beside the built-in plugins (built
        against the SDK: pkg-config healer-sdk). Names must not repeat.
      '';
    };

    tokenFile = mkOption {
      type = types.nullOr types.str;
      default = "/etc/healerd/token";
      description = ''
        The bearer token's file (http.token_file), first line; POSTs (confirm, reject, pause)
        need it. A path outside the Nix store: the store is world-readable. null: no token,
        every POST refused.
      '';
    };

    generateToken = mkOption {
      type = types.bool;
      default = true;
      description = "Write a random root-only tokenFile before the agent starts when it does not exist.";
    };

    extraPath = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "More packages on the unit's PATH, for commands plugins run (e.g. a plugin's exec helpers).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.tokenFile == null || !(lib.hasPrefix builtins.storeDir cfg.tokenFile);
        message = "services.healerd.tokenFile = ${toString cfg.tokenFile} is in the Nix store, which every user can read";
      }
    ];

    services.healerd.settings = {
      agent = {
        state_dir = mkDefault "/var/lib/healerd";
        # Not mkDefault: another value conflicts at evaluation. Plugins come through
        # extraPlugins, copied here by the pre-start script.
        plugin_dir = runtimePluginDir;
      };
      http.token_file = mkIf (cfg.tokenFile != null) cfg.tokenFile;
      plugins = cfg.plugins;
    };

    environment.systemPackages = [ cfg.package ];   # healctl, and the man pages

    # A real file (mode set), not a link into the store: healerd reads it at start and on reload.
    environment.etc."healerd/healerd.conf" = {
      source = configFile;
      mode = "0644";
    };

    # The life-cycle and resource keys are the Debian unit's (etc/healerd.service.in), checked
    # key for key by tests/integration/nix_files.sh; the hardening is looser, for the reasons
    # given at serviceConfig below.
    systemd.services.healerd = {
      description = "healerd self-healing agent";
      documentation = [ "man:healerd(8)" "man:healerd.conf(5)" "man:healctl(8)" ];
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      startLimitIntervalSec = 300;
      startLimitBurst = 5;
      # The commands plugins run by name: nix-env, nix-store, nix-instantiate (disk,
      # nixconfig), nixos-rebuild (the activation wrapper), busctl, systemctl, journalctl
      # (service, disk), ip (network), swapon (memory).
      path = [
        config.nix.package
        config.system.build.nixos-rebuild
        config.systemd.package
        pkgs.iproute2
        pkgs.util-linux
        pkgs.coreutils
      ] ++ cfg.extraPath;
      # A changed configuration is reloaded (SIGHUP after --check-config, below); a changed
      # package or plugin set restarts the agent.
      reloadTriggers = [ configFile ];
      restartTriggers = [ cfg.package pluginLinks ];

      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStartPre = prestart;
        ExecStart = "${cfg.package}/bin/healerd -c ${configPath}";
        # A bad file is refused before the agent sees the signal (the agent keeps its old
        # configuration on a bad reload too, but then systemctl reload would say success).
        ExecReload = [
          "${cfg.package}/bin/healerd --check-config -c ${configPath}"
          "${pkgs.coreutils}/bin/kill -HUP $MAINPID"
        ];
        WatchdogSec = "30s";
        Restart = "on-failure";
        RestartSec = "5s";

        StateDirectory = "healerd";
        StateDirectoryMode = "0700";
        ConfigurationDirectory = "healerd";
        RuntimeDirectory = "healerd";
        RuntimeDirectoryMode = "0755";
        LimitNOFILE = 65536;
        OOMScoreAdjust = -900;
        OOMPolicy = "continue";
        Nice = -5;

        NoNewPrivileges = true;
        ProtectKernelModules = true;
        CapabilityBoundingSet = [
          "~CAP_SYS_MODULE CAP_SYS_BOOT CAP_SYS_TIME CAP_WAKE_ALARM CAP_MAC_ADMIN CAP_MAC_OVERRIDE"
        ];
        SystemCallFilter = [ "~@reboot @module @clock @obsolete @cpu-emulation" ];
        SystemCallErrorNumber = "EPERM";
        RestrictRealtime = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" "AF_PACKET" ];
        # The Debian unit (etc/healerd.service.in) is stricter (ProtectSystem=strict, a capability
        # allow-list, ProtectHostname, RestrictNamespaces...): on NixOS nixconfig writes
        # /etc/nixos and runs nixos-rebuild / switch-to-configuration, which write /boot and
        # /nix/var/nix/profiles, set the hostname and start units. Left out here:
        # ProtectSystem, ProtectHome, PrivateTmp, PrivateDevices, PrivateNetwork,
        # PrivateUsers, ProtectKernelTunables, ProtectControlGroups, ProtectKernelLogs,
        # ProtectClock, ProtectHostname, RestrictNamespaces, RestrictSUIDSGID,
        # LockPersonality, SystemCallArchitectures, MemoryDenyWriteExecute, UMask.
      };
    };
  };
}
