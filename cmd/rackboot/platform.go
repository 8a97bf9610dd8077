package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/spf13/cobra"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/progress"
	"rackboot/internal/textview"
)

// platformFlags are the flags every platform command takes.
type platformFlags struct {
	cfg    configFlags // only --config and --data-dir are registered
	mirror string
	server string
	token  string
	output outputFlag
}

func (f *platformFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	d := config.Default()
	fs.StringVar(&f.cfg.path, "config", "", "YAML configuration file (data_dir, store and smartos.mirror are read from it)")
	fs.StringVar(&f.cfg.dataDir, "data-dir", d.DataDir, "data directory: platforms under smartos/<build>/platform/")
	fs.StringVar(&f.mirror, "mirror", "", "SmartOS mirror base URL for \"latest\" (default: smartos.mirror, else "+shortMirror()+")")
	fs.StringVar(&f.server, "server", "", "a running rackboot's URL (default: the one serve.json in the data directory names, if any)")
	fs.StringVar(&f.token, "token", "", "API token for a running rackboot (default: $RACKBOOT_TOKEN, else the data directory's api-token)")
	f.output.register(fs)
}

func shortMirror() string { return "MNX's public mirror" }

// open loads the configuration and picks where the work is done.
func (f *platformFlags) open(cmd *cobra.Command) (platformBackend, config.Config, error) {
	if err := f.output.check(); err != nil {
		return nil, config.Config{}, err
	}
	cfg, err := f.cfg.load(cmd)
	if err != nil {
		return nil, cfg, err
	}
	if f.mirror != "" {
		cfg.SmartOS.Mirror = f.mirror
	}
	b, where, err := openPlatforms(cmd.Context(), backendOptions{
		dataDir: cfg.DataDir, store: cfg.Store, mirror: cfg.SmartOS.Mirror, server: f.server, token: f.token,
		log: slog.New(progress.WarnHandler(cmd.ErrOrStderr())),
	})
	if err != nil {
		return nil, cfg, err
	}
	if _, remote := b.(api.RemotePlatforms); remote {
		fmt.Fprintf(cmd.ErrOrStderr(), "rackboot: using %s\n", where)
	}
	return b, cfg, nil
}

func (f *platformFlags) json() bool { return f.output.json() }

func platformCommand() *cobra.Command {
	var f platformFlags
	cmd := &cobra.Command{
		Use:   "platform",
		Short: "Import, list, choose and remove SmartOS platforms",
		Long: `platform manages the SmartOS platforms in the data directory and their
catalog: where each came from, its checksum, when it was imported, which one
the menu boots by default, and which are pinned against removal.

While rackboot serve runs on the data directory, it holds the catalog's
store; these commands then go through its API (it names itself in
<data-dir>/serve.json), and a build imported there is in the next menu
served. Otherwise they open the store themselves. The output is the same.

What MNX publishes for each build, beside platform-<build>.tgz, is used:
md5sums.txt to check the download, and SINGLE_USER_ROOT_PASSWORD.txt, the
root password of a noimport (rescue) boot, shown by 'platform show'.`,
		Example: `  rackboot platform import latest
  rackboot platform import https://us-central.manta.mnx.io/Joyent_Dev/public/SmartOS/20250102T000000Z/platform-20250102T000000Z.tgz
  rackboot platform import ./platform-20250102T000000Z.tgz --sha256 3f1c...
  rackboot platform list
  rackboot platform default 20250102T000000Z
  rackboot platform prune --keep 3`,
		Args: cobra.NoArgs,
	}
	f.register(cmd)
	cmd.AddCommand(platformImportCommand(&f), platformListCommand(&f), platformShowCommand(&f),
		platformDefaultCommand(&f), platformPinCommand(&f, true), platformPinCommand(&f, false),
		platformRemoveCommand(&f), platformPruneCommand(&f))
	return cmd
}

// runPlatform opens the backend, runs fn, closes it, and turns API errors
// into their messages.
func runPlatform(cmd *cobra.Command, f *platformFlags, fn func(ctx context.Context, b platformBackend, cfg config.Config) error) error {
	b, cfg, err := f.open(cmd)
	if err != nil {
		return err
	}
	defer b.Close()
	return userError(fn(cmd.Context(), b, cfg))
}

func platformListCommand(f *platformFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the platforms, newest first",
		Long: `list shows every platform in the catalog, newest first: its size (of the
tarball), when it was imported, its checksum, whether it is the default or
pinned, and how many boots fetched its kernel in the last 7 days.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlatform(cmd, f, func(ctx context.Context, b platformBackend, _ config.Config) error {
				list, err := b.List(ctx)
				if err != nil {
					return err
				}
				if f.json() {
					return writeJSON(cmd.OutOrStdout(), list)
				}
				return textview.Platforms(cmd.OutOrStdout(), list)
			})
		},
	}
}

func platformShowCommand(f *platformFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show BUILD",
		Short: "Show one platform, with its rescue-mode root password",
		Long: `show prints what the catalog knows of one platform. Its rescue root password
is the one MNX publishes beside the build (SINGLE_USER_ROOT_PASSWORD.txt):
log in with it after booting the build with noimport=true, unless
smartos.root_password (or root_shadow) is configured, which then applies.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlatform(cmd, f, func(ctx context.Context, b platformBackend, _ config.Config) error {
				p, err := b.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if f.json() {
					return writeJSON(cmd.OutOrStdout(), p)
				}
				return textview.Platform(cmd.OutOrStdout(), p)
			})
		},
	}
}

func platformDefaultCommand(f *platformFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "default BUILD",
		Short: "Make BUILD the platform the menu boots by default",
		Long: `default makes BUILD the menu's default item, for every machine, unless
menu.default is set in the configuration (which wins). Without a default the
menu boots the newest build.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return platformChange(cmd, f, args[0], "default platform: %s", func(ctx context.Context, b platformBackend) error {
				return b.SetDefault(ctx, args[0])
			})
		},
	}
}

func platformPinCommand(f *platformFlags, pin bool) *cobra.Command {
	use, short, done := "pin BUILD", "Keep BUILD from prune and from rm without --force", "pinned %s"
	if !pin {
		use, short, done = "unpin BUILD", "Let prune and rm remove BUILD again", "unpinned %s"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return platformChange(cmd, f, args[0], done, func(ctx context.Context, b platformBackend) error {
				return b.SetPinned(ctx, args[0], pin)
			})
		},
	}
}

// platformChange runs a change to one build and shows the result.
func platformChange(cmd *cobra.Command, f *platformFlags, build, done string, change func(context.Context, platformBackend) error) error {
	return runPlatform(cmd, f, func(ctx context.Context, b platformBackend, _ config.Config) error {
		if err := change(ctx, b); err != nil {
			return err
		}
		if f.json() {
			p, err := b.Get(ctx, build)
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), p)
		}
		_, err := fmt.Fprintf(cmd.OutOrStdout(), done+"\n", build)
		return err
	})
}

func platformRemoveCommand(f *platformFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm BUILD...",
		Aliases: []string{"remove"},
		Short:   "Remove platforms from the data directory and the catalog",
		Long: `rm removes each BUILD: its directory goes aside in one rename and is then
deleted, so a machine booting it either gets all of its files or none. The
default build and pinned builds are refused without --force.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlatform(cmd, f, func(ctx context.Context, b platformBackend, _ config.Config) error {
				var removed []string
				for _, build := range args {
					if err := b.Remove(ctx, build, force); err != nil {
						return fmt.Errorf("rm %s: %w", build, userError(err))
					}
					removed = append(removed, build)
					if !f.json() {
						fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", build)
					}
				}
				if f.json() {
					return writeJSON(cmd.OutOrStdout(), api.PruneResult{Removed: removed})
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also remove the default build or a pinned one")
	return cmd
}

func platformPruneCommand(f *platformFlags) *cobra.Command {
	var keep string
	cmd := &cobra.Command{
		Use:   "prune --keep N",
		Short: "Remove all but the N newest platforms (the default and pinned ones stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := strconv.Atoi(keep)
			if err != nil || n < 0 {
				return fmt.Errorf("--keep %q: give how many of the newest builds to keep (0 or more)", keep)
			}
			return runPlatform(cmd, f, func(ctx context.Context, b platformBackend, _ config.Config) error {
				removed, err := b.Prune(ctx, n)
				if f.json() && err == nil {
					return writeJSON(cmd.OutOrStdout(), api.PruneResult{Removed: append([]string{}, removed...)})
				}
				for _, r := range removed {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", r)
				}
				if err == nil && len(removed) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "nothing to prune: at most %d builds besides the default and pinned ones\n", n)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&keep, "keep", "", "how many of the newest builds to keep (required)")
	cmd.MarkFlagRequired("keep")
	return cmd
}
