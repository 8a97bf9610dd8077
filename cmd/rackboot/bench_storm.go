package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"rackboot/internal/storm"
)

func benchStormCommand() *cobra.Command {
	var f stormFlags
	cmd := &cobra.Command{
		Use:   "storm",
		Short: "Simulate N machines network-booting at once, each through the whole chain",
		Long: `storm powers on N simulated machines on --interface and lets each boot the way
real firmware does:

  dhcp       the PXE ROM's DISCOVER/REQUEST (options 60, 93, 94, 97) from its own
             MAC, taking the address from the DHCP server's offer and the boot
             program from a proxyDHCP offer (or the DHCP server's own); UEFI
             machines then ask the proxy on port 4011, as EDK2 does
  tftp       the boot program (iPXE), with blksize and tsize (windowsize if asked),
             after a tsize-only probe, as EDK2 and Intel ROMs do
  ipxe-dhcp  DHCP again as iPXE (user class iPXE, option 175)
  menu       the script iPXE is told to load (or --menu-url), run to its default
             item: choose --default, goto, set, chain
  kernel     the default item's kernel, over HTTP
  modules    its modules (SmartOS: the boot_archive)

Each machine's leased address is added to the interface for the rest of its
boot (and removed at the end), so the servers see N distinct clients. DHCP
retransmissions follow the firmware (PXE ROM 4, 8, 16, 32 s; iPXE's
DISCOVER 1, 2, 4, 8 s and REQUEST 0.25 s doubling to 8 s); --scale
shortens or stretches them. It needs root: port 68, and the addresses.

The report gives the time until every machine booted, each stage's p50, p95
and p99, failures by stage with an example error, and the bytes received.`,
		Example: `  rackboot bench storm --interface eth1 -n 100
  rackboot bench storm --interface eth1 -n 500 --spread 10s --uefi 0.2 --output json
  rackboot bench storm --interface eth1 -n 50 --menu-url http://10.0.0.5/ipxe/bootstrap.ipxe`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			return runBench(cmd.Context(), &f.out, f.timeout, "storm", func(ctx context.Context) (*storm.Report, error) {
				return storm.Run(ctx, cfg)
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// stormFlags are the flags of `bench storm`.
type stormFlags struct {
	cfg                 storm.Config
	out                 outputFlag
	romSched, ipxeSched string
	macPrefix, addrs    string
	proxyReq            string
	timeout             time.Duration
	quiet               bool
}

// config is the storm the flags describe.
func (f *stormFlags) config() (storm.Config, error) {
	cfg := f.cfg
	if err := f.out.check(); err != nil {
		return cfg, err
	}
	var err error
	if cfg.ROMSchedule, err = parseSchedule("rom-dhcp-timeouts", f.romSched); err != nil {
		return cfg, err
	}
	if cfg.IPXESchedule, err = parseSchedule("ipxe-dhcp-timeouts", f.ipxeSched); err != nil {
		return cfg, err
	}
	if cfg.MACPrefix, err = parseMACPrefix(f.macPrefix); err != nil {
		return cfg, err
	}
	switch storm.AddrMode(f.addrs) {
	case storm.AddrsAdd, storm.AddrsInterface:
		cfg.Addrs = storm.AddrMode(f.addrs)
	default:
		return cfg, fmt.Errorf("--addresses %q: want add or interface", f.addrs)
	}
	switch storm.ProxyRequest(f.proxyReq) {
	case storm.ProxyRequestAuto, storm.ProxyRequestAlways, storm.ProxyRequestNever:
		cfg.ProxyRequest = storm.ProxyRequest(f.proxyReq)
	default:
		return cfg, fmt.Errorf("--proxy-request %q: want auto, always or never", f.proxyReq)
	}
	if cfg.Interface == "" {
		return cfg, fmt.Errorf("say where the machines are: --interface NAME (an interface on the boot network; see `ip link`)")
	}
	cfg.Progress = stderrUnlessQuiet(f.quiet)
	return cfg, nil
}

func (f *stormFlags) register(fs *pflag.FlagSet) {
	cfg := &f.cfg
	d := storm.DefaultTFTP
	fs.StringVar(&cfg.Interface, "interface", "", "interface on the boot network (required; the machines' leased addresses are added to it)")
	fs.IntVarP(&cfg.Machines, "machines", "n", 100, "how many machines")
	fs.DurationVar(&cfg.Spread, "spread", 0, "power the machines on at random times over this long (0: all at once)")
	fs.Float64Var(&cfg.UEFI, "uefi", 0, "share of machines with x86-64 UEFI firmware (0 to 1); the rest are BIOS")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed: arrival times, firmware mix, UUIDs, transaction ids")
	fs.StringVar(&f.macPrefix, "mac-prefix", "02:5b:00", "first three bytes of the machines' MACs")
	fs.StringVar(&f.romSched, "rom-dhcp-timeouts", "4s,8s,16s,32s", "PXE ROM DHCP retransmission timeouts (PXE spec 2.1)")
	fs.StringVar(&f.ipxeSched, "ipxe-dhcp-timeouts", "1s,2s,4s,8s", "iPXE DHCPDISCOVER retransmission timeouts (its REQUESTs follow iPXE: 0.25 s doubling to 8 s)")
	fs.Float64Var(&cfg.Scale, "scale", 1, "multiply every firmware timeout (DHCP and TFTP) by this")
	fs.StringVar(&f.proxyReq, "proxy-request", "auto", "ProxyDHCPREQUEST to port 4011: auto (UEFI machines, as EDK2), always, never")
	fs.IntVar(&cfg.TFTP.BlockSize, "tftp-blksize", d.BlockSize, "TFTP blksize to ask for (0: none, 512-byte blocks)")
	fs.IntVar(&cfg.TFTP.WindowSize, "tftp-windowsize", 0, "TFTP windowsize to ask for (0: lockstep, as PXE ROMs)")
	fs.BoolVar(&cfg.TFTP.SizeProbe, "tftp-size-probe", d.SizeProbe, "ask for tsize alone first and abort, as EDK2 and Intel ROMs do")
	fs.DurationVar(&cfg.TFTP.Timeout, "tftp-timeout", d.Timeout, "TFTP retransmission timeout (EDK2: 4s)")
	fs.IntVar(&cfg.TFTP.Retries, "tftp-retries", d.Retries, "TFTP retransmissions without progress before giving up (EDK2: 6)")
	fs.DurationVar(&cfg.HTTPTimeout, "http-timeout", time.Minute, "give up on an HTTP connection that receives nothing this long (iPXE has no limit on a whole download)")
	fs.IntVar(&cfg.HTTPRetries, "http-retries", 2, "further tries of a failed HTTP download")
	fs.StringVar(&cfg.MenuURL, "menu-url", "", "script URL to load instead of the one iPXE's DHCP answer names")
	fs.StringVar(&f.addrs, "addresses", string(storm.AddrsAdd), "add: put each leased address on --interface; interface: use its own address")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "stop the storm after this long (0: never)")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines on stderr")
	f.out.register(fs)
}
