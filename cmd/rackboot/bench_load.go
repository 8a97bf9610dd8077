package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"rackboot/internal/storm"
)

func benchTFTPCommand() *cobra.Command {
	var (
		l              storm.TFTPLoad
		out            outputFlag
		server, source string
		timeout        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tftp",
		Short: "Many concurrent TFTP downloads of one file",
		Long: `tftp starts --clients downloads of --file from --server at once (each client
--rounds times, one after the other) and reports the time until the last one
ended, per-download percentiles and the throughput. Without --windowsize the
transfers are lockstep (RFC 1350), as PXE ROMs do.`,
		Example: `  rackboot bench tftp --server 10.0.0.5 --file ipxe.efi --clients 200
  rackboot bench tftp --server 10.0.0.5 --file ipxe.efi --clients 1 --windowsize 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			var err error
			if l.Server, err = parseServer(server, 69); err != nil {
				return err
			}
			if l.Local, err = parseSource(source); err != nil {
				return err
			}
			return runBench(cmd.Context(), &out, timeout, "tftp load", func(ctx context.Context) (*storm.LoadReport, error) {
				return storm.RunTFTP(ctx, l)
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&server, "server", "", "TFTP server address (port 69 unless given)")
	fs.StringVar(&l.File, "file", "ipxe.efi", "file to download")
	fs.IntVar(&l.Clients, "clients", 200, "concurrent downloads")
	fs.IntVar(&l.Rounds, "rounds", 1, "downloads per client, one after the other")
	fs.IntVar(&l.Options.BlockSize, "blksize", 1468, "blksize to ask for (0: none)")
	fs.IntVar(&l.Options.WindowSize, "windowsize", 0, "windowsize to ask for (0: lockstep)")
	fs.DurationVar(&l.Options.Timeout, "retransmit", time.Second, "client retransmission timeout")
	fs.IntVar(&l.Options.Retries, "retries", 6, "retransmissions without progress before a download fails")
	fs.StringVar(&source, "source", "", "local address to download from (default: the kernel picks)")
	fs.DurationVar(&timeout, "timeout", 10*time.Minute, "stop after this long (0: never)")
	out.register(fs)
	return cmd
}

func benchHTTPCommand() *cobra.Command {
	var (
		l       storm.HTTPLoad
		out     outputFlag
		source  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "http",
		Short: "Many concurrent HTTP downloads of one URL",
		Long: `http starts --clients downloads of --url at once, each client --rounds times
over its kept-alive connection, and reports the time until the last one ended,
per-download percentiles and the aggregate throughput.`,
		Example: `  rackboot bench http --url http://10.0.0.5/smartos/20250101T000000Z/platform/i86pc/amd64/boot_archive --clients 32`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			var err error
			if l.Local, err = parseSource(source); err != nil {
				return err
			}
			return runBench(cmd.Context(), &out, timeout, "http load", func(ctx context.Context) (*storm.LoadReport, error) {
				return storm.RunHTTP(ctx, l)
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&l.URL, "url", "", "URL to download")
	fs.IntVar(&l.Clients, "clients", 32, "concurrent clients")
	fs.IntVar(&l.Rounds, "rounds", 1, "downloads per client, one after the other")
	fs.StringVar(&source, "source", "", "local address to download from (default: the kernel picks)")
	fs.DurationVar(&l.Timeout, "idle-timeout", time.Minute, "give up on a connection that receives nothing this long")
	fs.DurationVar(&timeout, "timeout", 30*time.Minute, "stop after this long (0: never)")
	out.register(fs)
	return cmd
}
