package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/progress"
	"rackboot/internal/smartos"
)

func platformImportCommand(f *platformFlags) *cobra.Command {
	var req api.ImportRequest
	cmd := &cobra.Command{
		Use:   "import SOURCE...",
		Short: "Download, verify and install SmartOS platforms",
		Long: `import brings each SOURCE into <data-dir>/smartos/<build>/platform/:

  latest                   the mirror's newest build (its "latest" object)
  https://.../platform-<build>.tgz
                           a tarball on a mirror; md5sums.txt beside it is used to
                           check it, SINGLE_USER_ROOT_PASSWORD.txt is kept
  ./platform-<build>.tgz   a tarball on this host
  ./smartos-<build>.iso    a SmartOS ISO (file or http(s) URL): its platform/ tree

A download shows its progress (a bar on a terminal, a line every few seconds
otherwise), resumes where an interrupted one stopped, and stops cleanly on
Ctrl-C. The file is checked (--sha256/--md5, or the mirror's md5sums.txt),
unpacked beside the builds and renamed into place in one step: a machine
never sees half a platform. A build already there is left alone unless
--force. Through a running server, a file SOURCE is read by the server, so
it must be on the server's host.`,
		Example: `  rackboot platform import latest
  rackboot platform import --mirror http://mirror.lan/SmartOS/ latest
  rackboot platform import ./platform-20250102T000000Z.tgz --sha256 3f1c...`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 && (req.SHA256 != "" || req.MD5 != "") {
				return errors.New("--sha256 and --md5 name one tarball: import one SOURCE at a time with them")
			}
			return runPlatform(cmd, f, func(ctx context.Context, b platformBackend, cfg config.Config) error {
				return importAll(ctx, cmd, f, b, cfg, args, req)
			})
		},
	}
	cmd.Flags().StringVar(&req.SHA256, "sha256", "", "expected SHA-256 of the tarball or ISO (hex)")
	cmd.Flags().StringVar(&req.MD5, "md5", "", "expected MD5 of the tarball or ISO (hex)")
	cmd.Flags().BoolVar(&req.Force, "force", false, "import again a build that is already there")
	return cmd
}

// importAll imports each source in turn; a failure is reported and the
// next source tried. The result is an error if any failed.
func importAll(ctx context.Context, cmd *cobra.Command, f *platformFlags, b platformBackend, cfg config.Config, sources []string, req api.ImportRequest) error {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	bar := progress.New(errw)
	var entries []smartos.CatalogEntry
	var failed []string
	for _, src := range sources {
		r := req
		var err error
		if r.Source, err = resolveSource(ctx, b, cfg, src); err != nil {
			fmt.Fprintf(errw, "rackboot: import %s: %v\n", src, userError(err))
			failed = append(failed, src)
			continue
		}
		present := false
		e, err := b.Import(ctx, r, func(ev smartos.ProgressEvent) {
			switch ev.Phase {
			case "download", "verify", "unpack":
				name := strings.TrimSuffix(ev.File, ".part") // the download's temporary name
				bar.Update(progress.Update{Phase: ev.Phase, Name: name, Bytes: ev.Bytes, Total: ev.Total, Rate: ev.Rate, ETA: ev.ETA})
			case "present":
				present = true
				bar.End()
			default:
				bar.End()
			}
		})
		bar.End()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("import %s: stopped; a partial download is kept and the next import resumes it", src)
			}
			fmt.Fprintf(errw, "rackboot: import %s: %v\n", src, userError(err))
			failed = append(failed, src)
			continue
		}
		entries = append(entries, e)
		if !f.json() {
			writeImported(out, e, present)
		}
	}
	if f.json() {
		if err := writeJSON(out, entries); err != nil {
			return err
		}
	}
	switch {
	case len(failed) == 1 && len(sources) == 1:
		return errors.New("the import failed (see above)")
	case len(failed) > 0:
		return fmt.Errorf("%d of %d imports failed: %s", len(failed), len(sources), strings.Join(failed, ", "))
	}
	return nil
}

// resolveSource makes a source mean the same to whichever process imports
// it: a file gets its absolute path, and "latest" with --mirror is resolved
// here when a server (with its own mirror setting) does the import.
func resolveSource(ctx context.Context, b platformBackend, cfg config.Config, src string) (string, error) {
	switch {
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		return src, nil
	case src == "latest":
		if _, remote := b.(api.RemotePlatforms); remote && cfg.SmartOS.Mirror != "" {
			im := &smartos.Importer{Mirror: cfg.SmartOS.Mirror}
			return im.LatestURL(ctx)
		}
		return src, nil
	}
	return filepath.Abs(src)
}

func writeImported(w io.Writer, e smartos.CatalogEntry, present bool) {
	if present {
		fmt.Fprintf(w, "%s is already imported (--force imports it again)\n", e.Build)
		return
	}
	sum := "no checksum to check against"
	if e.SHA256 != "" {
		sum = "sha256 " + e.SHA256
	}
	fmt.Fprintf(w, "imported %s (%s, %s)\n", e.Build, progress.Bytes(e.Size), sum)
	if e.RootPassword != "" {
		fmt.Fprintf(w, "  rescue (noimport) root password: 'rackboot platform show %s'\n", e.Build)
	}
}
