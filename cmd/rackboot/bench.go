package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a boot server the way a rack of machines would (a client only: it never answers DHCP)",
		Long: `bench measures a boot server — rackboot or any other — from the clients' side.

  storm  N simulated machines power on and each does the whole network boot:
         DHCP as a PXE ROM, TFTP of iPXE, DHCP as iPXE, the menu over HTTP,
         then the default item's kernel and modules
  tftp   many concurrent TFTP downloads of one file
  http   many concurrent HTTP downloads of one URL

Run it on a host (or network namespace) on the boot network, never on a
production network you do not own: a storm is a burst of DHCP traffic.`,
	}
	cmd.AddCommand(benchStormCommand(), benchTFTPCommand(), benchHTTPCommand())
	return cmd
}

func parseSchedule(flag, s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--%s %q: want positive durations separated by commas, e.g. 4s,8s,16s,32s", flag, s)
		}
		out = append(out, d)
	}
	return out, nil
}

func parseMACPrefix(s string) ([3]byte, error) {
	var p [3]byte
	hw, err := net.ParseMAC(s + ":00:00:00")
	if err != nil || len(hw) != 6 {
		return p, fmt.Errorf("--mac-prefix %q: want three bytes, e.g. 02:5b:00", s)
	}
	copy(p[:], hw)
	return p, nil
}

// runBench runs one bench, bounded by timeout (0: only by ctx), and
// writes its report, even that of a run that failed part way.
func runBench[R any, P interface {
	*R
	WriteText(io.Writer) error
}](ctx context.Context, out *outputFlag, timeout time.Duration, what string, run func(context.Context) (P, error)) error {
	cancel := context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	rep, err := run(ctx)
	if rep != nil {
		if werr := out.write(os.Stdout, rep); werr != nil {
			return werr
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func parseSource(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return a, fmt.Errorf("--source %q: want an IPv4 address of this host", s)
	}
	return a, nil
}

func parseServer(s string, port uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.AddrPort{}, fmt.Errorf("--server %q: want an IPv4 address, with :port if not %d", s, port)
	}
	return netip.AddrPortFrom(a, port), nil
}

func stderrUnlessQuiet(quiet bool) io.Writer {
	if quiet {
		return nil
	}
	return os.Stderr
}
