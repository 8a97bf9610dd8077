// Package storm simulates a boot storm: many machines network-booting at
// once, each doing the whole chain a real one does. A machine's PXE ROM
// DHCPs (options 60, 93, 97; with a DHCP server, a proxyDHCP server, or
// both), fetches its boot program over TFTP, then iPXE DHCPs again (user
// class iPXE), fetches the menu script over HTTP, runs it to its default item,
// and downloads the kernel and modules that item names. The package is only
// a client: it never answers DHCP.
//
// All machines share one DHCP socket (port 68, replies demultiplexed by xid
// and MAC). Each machine's leased address is added to the interface, so its
// TFTP and HTTP traffic comes from its own address, as on a real network.
//
// The same package measures TFTP alone (many concurrent downloads of one
// file) and HTTP alone (many concurrent downloads of one URL): see
// RunTFTP and RunHTTP.
package storm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// AddrMode says which source address the machines use after DHCP.
type AddrMode string

const (
	// AddrsAdd adds each leased address to the interface (Linux) and binds
	// the machine's sockets to it.
	AddrsAdd AddrMode = "add"
	// AddrsInterface leaves the interface alone: every machine talks from
	// the interface's own address.
	AddrsInterface AddrMode = "interface"
)

// ProxyRequest says when a machine whose boot information came from a
// proxyDHCP server asks that server again on port 4011 (PXE spec 2.1
// §2.2.6, ProxyDHCPREQUEST).
type ProxyRequest string

const (
	// ProxyRequestAuto: UEFI machines always ask (EDK2 does), BIOS
	// machines only when the proxy offer names no boot file.
	ProxyRequestAuto   ProxyRequest = "auto"
	ProxyRequestAlways ProxyRequest = "always"
	// ProxyRequestNever asks only when the offer names no boot file.
	ProxyRequestNever ProxyRequest = "never"
)

// Config is one storm.
type Config struct {
	Interface string // where the machines are (required)
	Machines  int
	// Spread: machines power on at uniformly random times in [0, Spread)
	// (all at once when 0).
	Spread time.Duration
	// UEFI is the share of machines with x86-64 UEFI firmware (arch 7),
	// the others are BIOS (arch 0).
	UEFI float64
	Seed uint64 // for arrival times, firmware mix and xids
	// MACPrefix: the first three bytes of every machine's MAC; the index
	// fills the other three.
	MACPrefix [3]byte

	// Firmware timing. ROMSchedule is when a PXE ROM gives up on one
	// DHCPDISCOVER, or DHCPREQUEST, and sends the next (PXE spec 2.1 and
	// EDK2's mPxeDhcpTimeout: 4, 8, 16, 32 s, 4 of each); IPXESchedule is
	// iPXE's for DHCPDISCOVER (1, 2, 4, 8 s) and IPXERequestSchedule its
	// for DHCPREQUEST (0.25, 0.5, 1, 2, 4, 8 s: six). Scale multiplies
	// them all and the TFTP timeout (0 means 1): 0.25 makes a storm of
	// impatient firmware.
	ROMSchedule         []time.Duration
	IPXESchedule        []time.Duration
	IPXERequestSchedule []time.Duration
	// IPXEProxyWait is how long iPXE, holding an address offer without
	// boot information, goes on waiting for a proxyDHCP offer (its
	// DHCP_DISC_PROXY_TIMEOUT_SEC); it notices at its next DISCOVER timer or
	// offer, and then requests the address without a boot file. A PXE ROM
	// waits through its whole schedule (PXE spec 2.1 §2.2.1). Scaled too.
	IPXEProxyWait time.Duration
	Scale         float64
	ProxyRequest  ProxyRequest
	TFTP          TFTPOptions
	HTTPTimeout   time.Duration // an HTTP connection that receives nothing this long fails
	HTTPRetries   int           // further tries of a failed HTTP download

	// MenuURL, when set, is fetched instead of the boot file iPXE's DHCP
	// answer names (an iPXE with an embedded script, as in the seed blog).
	MenuURL string
	Addrs   AddrMode

	// Progress, when set, gets a line every ProgressEvery (default 2s).
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Defaults of the firmware knobs, as real firmware behaves.
var (
	DefaultROMSchedule  = []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}
	DefaultIPXESchedule = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	// DefaultIPXERequestSchedule is iPXE's DHCPREQUEST retransmission
	// (src/config/dhcp.h: DHCP_REQ_START_TIMEOUT_SEC 0, so its retry timer
	// starts at DEFAULT_MIN_TIMEOUT, a quarter second, and doubles until it
	// would pass DHCP_REQ_END_TIMEOUT_SEC, 10 s; retry.c fails it then):
	// six REQUESTs, the last at 7.75 s, given up at 15.75 s. The DISCOVER
	// phase (DHCP_DISC_START_TIMEOUT_SEC 1) is the 1, 2, 4, 8 s above.
	DefaultIPXERequestSchedule = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond,
		1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	// DefaultIPXEProxyWait is iPXE's DHCP_DISC_PROXY_TIMEOUT_SEC
	// (src/config/dhcp.h): 2 s, checked in dhcp_discovery_rx and
	// dhcp_discovery_expired, so with the 1, 2, 4 s DISCOVER timer it gives
	// up at 3 s unless an offer arrives after 2 s.
	DefaultIPXEProxyWait = 2 * time.Second
	DefaultTFTP          = TFTPOptions{BlockSize: 1468, SizeProbe: true, Timeout: 4 * time.Second, Retries: 6}
)

// DefaultMACPrefix is locally administered (bit 1 of the first byte).
var DefaultMACPrefix = [3]byte{0x02, 0x5b, 0x00}

func (c *Config) fill() error {
	if c.Interface == "" {
		// Without one, DHCP broadcasts would leave by whatever interface
		// the routing table picks: perhaps a network nobody meant to storm.
		return errors.New("storm: name the interface the machines are on")
	}
	if c.Machines < 1 {
		return errors.New("storm: at least one machine")
	}
	if c.Machines > 1<<24 {
		return errors.New("storm: at most 16777216 machines (three MAC bytes)")
	}
	if c.UEFI < 0 || c.UEFI > 1 {
		return fmt.Errorf("storm: UEFI share %v: want 0 to 1", c.UEFI)
	}
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.Scale < 0 {
		return fmt.Errorf("storm: scale %v: want more than 0", c.Scale)
	}
	if len(c.ROMSchedule) == 0 {
		c.ROMSchedule = DefaultROMSchedule
	}
	if c.IPXEProxyWait == 0 {
		c.IPXEProxyWait = DefaultIPXEProxyWait
	}
	if len(c.IPXESchedule) == 0 {
		c.IPXESchedule = DefaultIPXESchedule
	}
	if len(c.IPXERequestSchedule) == 0 {
		c.IPXERequestSchedule = DefaultIPXERequestSchedule
	}
	if c.TFTP == (TFTPOptions{}) {
		c.TFTP = DefaultTFTP
	}
	if c.TFTP.Timeout <= 0 {
		c.TFTP.Timeout = DefaultTFTP.Timeout
	}
	c.TFTP.Timeout = scaled(c.TFTP.Timeout, c.Scale)
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = time.Minute
	}
	if c.ProxyRequest == "" {
		c.ProxyRequest = ProxyRequestAuto
	}
	if c.Addrs == "" {
		c.Addrs = AddrsAdd
	}
	if c.MACPrefix == ([3]byte{}) {
		c.MACPrefix = DefaultMACPrefix
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 2 * time.Second
	}
	return nil
}

func scaled(d time.Duration, s float64) time.Duration { return time.Duration(float64(d) * s) }

func scaleAll(ds []time.Duration, s float64) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = scaled(d, s)
	}
	return out
}

// storm is one run.
type storm struct {
	cfg          Config
	conn         *dhcpConn
	addrs        *addrManager
	romSchedule  []time.Duration
	ipxeSchedule []time.Duration
	ipxeRequest  []time.Duration
	ipxeProxy    time.Duration
	xidMu        sync.Mutex
	rng          *rand.Rand

	inStage [numStages]atomic.Int64
	booted  atomic.Int64
	failed  atomic.Int64
}

func (s *storm) xid() uint32 {
	s.xidMu.Lock()
	defer s.xidMu.Unlock()
	return s.rng.Uint32()
}

// Run runs the storm until every machine has booted or failed, or ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &storm{
		cfg:          cfg,
		romSchedule:  scaleAll(cfg.ROMSchedule, cfg.Scale),
		ipxeSchedule: scaleAll(cfg.IPXESchedule, cfg.Scale),
		ipxeRequest:  scaleAll(cfg.IPXERequestSchedule, cfg.Scale),
		ipxeProxy:    time.Duration(float64(cfg.IPXEProxyWait) * cfg.Scale),
		rng:          rand.New(rand.NewPCG(cfg.Seed, 0x5157)),
	}
	if cfg.Addrs == AddrsAdd {
		am, err := newAddrManager(cfg.Interface)
		if err != nil {
			return nil, err
		}
		s.addrs = am
		defer am.close()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := listenDHCP(ctx, cfg.Interface)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	s.conn = conn

	machines := s.plan()
	start := time.Now()
	stopProgress := s.progress(ctx, start)
	var wg sync.WaitGroup
	for _, m := range machines {
		wg.Go(func() {
			select {
			case <-time.After(m.arrival):
			case <-ctx.Done():
				m.res.failed, m.res.err = StageDHCP, ctx.Err()
				return
			}
			s.boot(ctx, m)
		})
	}
	wg.Wait()
	stopProgress()
	rep := buildReport(cfg, start, machines)
	rep.DHCPSent, rep.DHCPReceived, rep.DHCPStray = conn.sent.Load(), conn.received.Load(), conn.stray.Load()
	return rep, ctx.Err()
}

// plan draws each machine's identity, firmware and arrival time.
func (s *storm) plan() []*machine {
	ms := make([]*machine, s.cfg.Machines)
	for i := range ms {
		id := identity{mac: net.HardwareAddr{s.cfg.MACPrefix[0], s.cfg.MACPrefix[1], s.cfg.MACPrefix[2],
			byte(i >> 16), byte(i >> 8), byte(i)}}
		for j := range id.uuid {
			id.uuid[j] = byte(s.rng.Uint32())
		}
		if s.rng.Float64() < s.cfg.UEFI {
			id.arch = 7
		}
		var at time.Duration
		if s.cfg.Spread > 0 {
			at = time.Duration(s.rng.Int64N(int64(s.cfg.Spread)))
		}
		ms[i] = &machine{index: i, id: id, arrival: at}
		ms[i].res.failed = -1
	}
	return ms
}

// progress prints a line every ProgressEvery until the returned stop.
func (s *storm) progress(ctx context.Context, start time.Time) (stop func()) {
	if s.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				fmt.Fprintf(s.cfg.Progress, "storm: %6.1fs  booted %d/%d  failed %d  in", time.Since(start).Seconds(),
					s.booted.Load(), s.cfg.Machines, s.failed.Load())
				for st := range numStages {
					fmt.Fprintf(s.cfg.Progress, " %s %d", st, s.inStage[st].Load())
				}
				fmt.Fprintln(s.cfg.Progress)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
