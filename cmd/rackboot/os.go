package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"rackboot/internal/config"
	"rackboot/internal/osimage"
	"rackboot/internal/progress"
	"rackboot/internal/target"
)

func osCommand() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "os",
		Short: "Import, list and remove Linux installers and ISO images for boot targets",
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(osImportCommand(&f), osListCommand(&f), osRemoveCommand(&f))
	return cmd
}

func osImportCommand(f *configFlags) *cobra.Command {
	var opt osimage.Options
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "import SOURCE",
		Short: "Download, verify and install a netboot tarball or an ISO under <data-dir>/os/",
		Long: `import brings SOURCE (a file, or an http:// or https:// URL) into
<data-dir>/os/<name>/ and prints the target to add to the configuration:

  netboot.tar.gz   Debian's (debian-installer/<arch>/linux, initrd.gz, and the
                   signed shim bootnetx64.efi and grubx64.efi for Secure Boot)
                   or Ubuntu's (<arch>/linux, initrd): a linux target
  an ISO image     kept whole for an iso target (iPXE's sanboot); Ubuntu's live
                   ISOs (casper/) also get their kernel and initrd taken out for
                   a linux target that fetches the ISO with url=

The download shows its progress (a bar on a terminal, a line every few
seconds otherwise) and stops cleanly on Ctrl-C; a cut connection is resumed
(HTTP Range), and an import run again resumes a download that stopped. The
file's SHA-256 is checked against --sha256 and recorded; the tree is unpacked
beside the others and
renamed into place in one step, with its catalog entry (rackboot-os.json)
inside it. An import of the same name is refused unless --force.`,
		Example: `  rackboot os import https://deb.debian.org/debian/dists/bookworm/main/installer-amd64/current/images/netboot/netboot.tar.gz --sha256 ...
  rackboot os import ./ubuntu-24.04-live-server-amd64.iso --name ubuntu-24.04`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			bar := progress.New(cmd.ErrOrStderr())
			im := &osimage.Importer{DataDir: cfg.DataDir, Progress: func(ev osimage.Event) {
				bar.Update(progress.Update{Phase: ev.Phase, Name: ev.File, Bytes: ev.Bytes, Total: ev.Total})
			}}
			src := args[0]
			if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
				if src, err = filepath.Abs(src); err != nil {
					return err
				}
			}
			e, err := im.Import(cmd.Context(), src, opt)
			bar.End()
			if err != nil {
				if cmd.Context().Err() != nil {
					return fmt.Errorf("import %s: stopped; nothing was installed", args[0])
				}
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), e)
			}
			return writeOSImported(cmd.OutOrStdout(), e)
		},
	}
	cmd.Flags().StringVar(&opt.Name, "name", "", "directory under <data-dir>/os/ (default: from the tarball, e.g. debian-12-amd64, or the ISO's file name)")
	cmd.Flags().StringVar(&opt.SHA256, "sha256", "", "expected SHA-256 of the tarball or ISO (hex)")
	cmd.Flags().BoolVar(&opt.Force, "force", false, "replace an import of the same name")
	out.register(cmd.Flags())
	return cmd
}

func osListCommand(f *configFlags) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the imported installers and ISO images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			list, err := osimage.List(cfg.DataDir)
			if err != nil {
				return err
			}
			if out.json() {
				if list == nil {
					list = []osimage.Entry{}
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			w := cmd.OutOrStdout()
			if len(list) == 0 {
				fmt.Fprintf(w, "nothing imported under %s (rackboot os import)\n", filepath.Join(cfg.DataDir, osimage.Subdir))
			}
			for _, e := range list {
				fmt.Fprintf(w, "%-24s %-15s %-6s %9s  %s  %s\n", e.Name, e.Layout, e.Arch, progress.Bytes(e.Size), e.Imported.Format("2006-01-02 15:04"), e.Source)
			}
			return nil
		},
	}
	out.register(cmd.Flags())
	return cmd
}

func osRemoveCommand(f *configFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an import from <data-dir>/os/, unless the configuration still boots it",
		Long: `remove deletes <data-dir>/os/NAME/ and its catalog entry in one step. It
refuses while a target of the configuration (--config) names a file in it, or
secure_boot's shim or GRUB lies in it, and says which; --force removes it
anyway (those targets then fail at the next start).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			name := args[0]
			if !force {
				if users, err := osUsers(cfg, name); err != nil {
					return fmt.Errorf("cannot tell what uses %s: %w (--force removes it anyway)", name, err)
				} else if len(users) > 0 {
					return fmt.Errorf("%s is still booted by %s: change the configuration first (--force removes it anyway)", name, strings.Join(users, ", "))
				}
			}
			e, err := osimage.Remove(cfg.DataDir, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s (%s)\n", e.Name, filepath.Join(cfg.DataDir, osimage.Subdir, e.Name))
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove it even if the configuration uses it")
	return cmd
}

// osUsers names what in cfg boots files of the import name: its targets
// (by id) and secure_boot's shim and GRUB.
func osUsers(cfg config.Config, name string) ([]string, error) {
	e := osimage.Entry{Name: name}
	ts, err := target.NewAll(cfg.Targets, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, t := range ts {
		for _, file := range t.Files() {
			if e.Holds(cfg.DataDir, file.Path) {
				users = append(users, "target "+t.ID())
				break
			}
		}
	}
	for key, p := range map[string]string{"secure_boot.grub": cfg.SecureBoot.GRUB, "secure_boot.shim": cfg.SecureBoot.Shim} {
		if p == "" {
			continue
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.DataDir, p)
		}
		if e.Holds(cfg.DataDir, p) {
			users = append(users, key)
		}
	}
	sort.Strings(users)
	return users, nil
}

// writeOSImported says what was imported and the configuration to add.
func writeOSImported(w io.Writer, e osimage.Entry) error {
	what := e.Layout
	if e.Arch != "" {
		what += " " + e.Arch
	}
	if e.Version != "" {
		what += ", " + e.Version
	}
	fmt.Fprintf(w, "imported %s (%s, %s, sha256 %s) into %s\n", e.Name, what, progress.Bytes(e.Size), e.SHA256, e.Dir)
	fmt.Fprintf(w, "\nAdd to the configuration:\n\n")
	b, err := yaml.Marshal(e.Suggest())
	if err != nil {
		return err
	}
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
	return nil
}
