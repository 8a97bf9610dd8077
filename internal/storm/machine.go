package storm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Stage is one step of a machine's boot.
type Stage int

const (
	StageDHCP     Stage = iota // the PXE ROM's DHCP (and ProxyDHCPREQUEST)
	StageTFTP                  // the boot program (iPXE) over TFTP
	StageIPXEDHCP              // iPXE's own DHCP
	StageMenu                  // the menu script(s)
	StageKernel                // the default item's kernel
	StageModules               // its modules (boot_archive)
	numStages
)

var stageNames = [numStages]string{"dhcp", "tftp", "ipxe-dhcp", "menu", "kernel", "modules"}

func (s Stage) String() string {
	if s >= 0 && s < numStages {
		return stageNames[s]
	}
	return "none"
}

// maxChain bounds how many scripts a machine chains through.
const maxChain = 4

// machine is one simulated computer.
type machine struct {
	index   int
	id      identity
	arrival time.Duration
	res     machineResult
}

type machineResult struct {
	start, end time.Time
	dur        [numStages]time.Duration
	done       [numStages]bool
	retries    [numStages]int
	bytes      [numStages]int64
	failed     Stage // -1: none
	err        error
	exited     bool // the menu's default item leaves iPXE (local disk)
}

// step runs one stage of m, timing it and recording a failure.
func (s *storm) step(m *machine, st Stage, f func() error) bool {
	s.inStage[st].Add(1)
	t0 := time.Now()
	err := f()
	m.res.dur[st] = time.Since(t0)
	s.inStage[st].Add(-1)
	if err != nil {
		m.res.failed, m.res.err = st, err
		s.failed.Add(1)
		return false
	}
	m.res.done[st] = true
	return true
}

// boot runs m's whole chain.
func (s *storm) boot(ctx context.Context, m *machine) {
	m.res.start = time.Now()
	defer func() { m.res.end = time.Now() }()
	dc := &dhcpClient{conn: s.conn, id: m.id, start: m.res.start, xid: s.xid}
	var l lease
	ok := s.step(m, StageDHCP, func() error {
		needed := 2 // DISCOVER and REQUEST; more are retransmissions
		defer func() { m.res.retries[StageDHCP] = max(l.sends-needed, 0) }()
		var err error
		if l, err = dc.exchange(ctx, false, s.romSchedule, s.romSchedule, 0); err != nil {
			return err
		}
		if err := s.addAddr(l); err != nil {
			return err
		}
		if l.proxy.IsValid() && s.asksProxy(m, l) {
			needed++
			if err := dc.proxyRequest(ctx, &l, s.romSchedule); err != nil {
				return err
			}
		}
		if l.bootFile == "" {
			return errNoBootFile
		}
		return nil
	})
	if !ok {
		return
	}
	local := s.local(l)
	ok = s.step(m, StageTFTP, func() error {
		if isURL(l.bootFile) {
			return fmt.Errorf("boot file %q is a URL: UEFI HTTP boot is not simulated", l.bootFile)
		}
		r, err := tftpGet(ctx, local, netip.AddrPortFrom(l.next, 69), l.bootFile, s.cfg.TFTP)
		m.res.bytes[StageTFTP], m.res.retries[StageTFTP] = r.WireBytes, r.Retransmits
		if err != nil {
			return fmt.Errorf("TFTP %s from %v: %w", l.bootFile, l.next, err)
		}
		return nil
	})
	if !ok {
		return
	}
	var il lease
	ok = s.step(m, StageIPXEDHCP, func() error {
		var err error
		il, err = dc.exchange(ctx, true, s.ipxeSchedule, s.ipxeRequest, s.ipxeProxy)
		m.res.retries[StageIPXEDHCP] = max(il.sends-2, 0)
		if err != nil {
			return err
		}
		if il.bootFile == "" && s.cfg.MenuURL == "" {
			return fmt.Errorf("iPXE took its address without a boot file: no proxyDHCP offer within %s of its first DHCPDISCOVER (iPXE's DHCP_DISC_PROXY_TIMEOUT_SEC)", s.ipxeProxy)
		}
		return s.addAddr(il)
	})
	if !ok {
		return
	}
	s.runScripts(ctx, m, il)
}

// asksProxy says whether m sends a ProxyDHCPREQUEST to port 4011.
func (s *storm) asksProxy(m *machine, l lease) bool {
	switch {
	case l.bootFile == "":
		return true // PXE spec 2.1 §2.2.6: the proxy offer named no file
	case s.cfg.ProxyRequest == ProxyRequestAlways:
		return true
	case s.cfg.ProxyRequest == ProxyRequestAuto:
		return m.id.arch != 0 // EDK2 asks every time
	}
	return false
}

func (s *storm) addAddr(l lease) error {
	if s.addrs == nil {
		return nil
	}
	return s.addrs.add(l.addr, l.bits)
}

func (s *storm) local(l lease) netip.Addr {
	if s.addrs == nil {
		return netip.Addr{}
	}
	return l.addr
}

// runScripts fetches and runs the menu script (and what it chains to), then
// loads the default item's kernel and modules.
func (s *storm) runScripts(ctx context.Context, m *machine, il lease) {
	f := &fetcher{local: s.local(il), next: il.next, tftp: s.cfg.TFTP,
		timeout: s.cfg.HTTPTimeout, retries: s.cfg.HTTPRetries}
	defer f.close()
	first := il.bootFile
	if s.cfg.MenuURL != "" {
		first = s.cfg.MenuURL
	}
	var plan bootPlan
	base := &url.URL{Scheme: "tftp", Host: il.next.String(), Path: "/"}
	ok := s.step(m, StageMenu, func() error {
		if first == "" {
			return errors.New("iPXE's DHCP answer named no boot file and no --menu-url is set")
		}
		u := first
		for range maxChain {
			abs, err := resolve(base, u)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			n, tries, err := f.get(ctx, abs, &buf)
			m.res.bytes[StageMenu] += n
			m.res.retries[StageMenu] += tries
			if err != nil {
				return err
			}
			if !bytes.HasPrefix(buf.Bytes(), []byte("#!ipxe")) {
				return fmt.Errorf("%s is not an iPXE script (%d bytes): iPXE would load it again and again "+
					"(the chainload loop)", abs, buf.Len())
			}
			plan, err = planScript(buf.Bytes(), s.vars(m, il))
			if err != nil {
				return fmt.Errorf("script %s: %w", abs, err)
			}
			if plan.Chain == "" {
				return nil
			}
			base, u = abs, plan.Chain
		}
		return fmt.Errorf("more than %d chained scripts", maxChain)
	})
	if !ok {
		return
	}
	if plan.Exit {
		m.res.exited = true
		s.booted.Add(1)
		return
	}
	for _, img := range []struct {
		st   Stage
		urls []string
	}{{StageKernel, []string{plan.Kernel}}, {StageModules, plan.Modules}} {
		ok := s.step(m, img.st, func() error {
			for _, u := range img.urls {
				abs, err := resolve(base, u)
				if err != nil {
					return err
				}
				n, tries, err := f.get(ctx, abs, nil)
				m.res.bytes[img.st] += n
				m.res.retries[img.st] += tries
				if err != nil {
					return err
				}
			}
			return nil
		})
		if !ok {
			return
		}
	}
	s.booted.Add(1)
}

// vars are the iPXE settings a script may use, as this machine's iPXE would
// have them.
func (s *storm) vars(m *machine, il lease) map[string]string {
	platform, buildarch := "pcbios", "i386"
	if m.id.arch == 7 {
		platform, buildarch = "efi", "x86_64"
	}
	return map[string]string{
		"mac": m.id.mac.String(), "net0/mac": m.id.mac.String(),
		"platform": platform, "buildarch": buildarch,
		"ip": il.addr.String(), "next-server": il.next.String(), "filename": il.bootFile,
		"uuid":     fmt.Sprintf("%x-%x-%x-%x-%x", m.id.uuid[0:4], m.id.uuid[4:6], m.id.uuid[6:8], m.id.uuid[8:10], m.id.uuid[10:]),
		"hostname": "",
	}
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// resolve makes ref absolute against base, as iPXE resolves a URI against
// the current working URI; a bare name is a file on the TFTP server.
func resolve(base *url.URL, ref string) (*url.URL, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", ref, err)
	}
	return base.ResolveReference(u), nil
}
