//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// peerStartTimeout bounds how long a peer may take to start listening.
const peerStartTimeout = 20 * time.Second

// DHCPServer describes the network's own DHCP server (dnsmasq), the way a
// site's router or pfSense box would be set up.
type DHCPServer struct {
	// NextServer, when valid, makes the server hand out PXE boot options the
	// way the seed blog's pfSense does: next-server = NextServer and file
	// BIOSFile (default undionly.kpxe), or EFIFile (default snponly.efi) to
	// clients with client-arch 7. With a plain TFTP server this makes iPXE
	// load itself forever.
	NextServer netip.Addr
	BIOSFile   string
	EFIFile    string
	// IPXEScript, when set, is given as the boot file to clients whose user
	// class is "iPXE" (dnsmasq's --dhcp-userclass), breaking the loop the
	// way the ISC "if exists user-class" recipe does. Needs NextServer.
	IPXEScript string
	// RouterAdvertisements makes dnsmasq also act as an IPv6 router (SLAAC
	// only, no DHCPv6). Without an IPv6 router on the link, every iPXE
	// "Configuring (net0 ...)" step waits ~15 s for router solicitations to
	// time out (measured under TCG); with one it takes ~5 s. Off by default:
	// many boot networks have no IPv6 router, and the tests should see the
	// slow case. RACKBOOT_E2E_IPV6_RA=1 turns it on for every dnsmasq.
	RouterAdvertisements bool
	// Extra dnsmasq arguments.
	Extra []string
}

// IPv6RAEnv turns on RouterAdvertisements for every dnsmasq the harness starts.
const IPv6RAEnv = "RACKBOOT_E2E_IPV6_RA"

// PlainRouter is a DHCP server with no boot options at all, like a home router.
func PlainRouter() DHCPServer { return DHCPServer{} }

// SeedStyle hands every PXE client next-server and undionly.kpxe/snponly.efi,
// as in the seed blog post.
func SeedStyle(next netip.Addr) DHCPServer { return DHCPServer{NextServer: next} }

// Dnsmasq is a running dnsmasq.
type Dnsmasq struct {
	*Process
	Host *Host
}

// StartDnsmasq runs dnsmasq as the lab network's DHCP server on host (DNS
// off, leases .100–.199 of the lab subnet, every decision logged), and waits
// until it listens.
func StartDnsmasq(ctx context.Context, t testing.TB, lab *Lab, host *Host, cfg DHCPServer) *Dnsmasq {
	t.Helper()
	RequireCommands(t, "dnsmasq")
	dir := filepath.Join(lab.Out, "dnsmasq-"+host.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"dnsmasq",
		"--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--port=0", // no DNS
		"--user=root", "--group=root",
		"--log-facility=-", "--log-dhcp",
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"),
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"),
		"--interface=" + host.Iface, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%s,%s,255.255.255.0,1h", lab.Addr(100), lab.Addr(199)),
		"--dhcp-match=set:efi,option:client-arch,7",
		"--dhcp-userclass=set:ipxe,iPXE",
	}
	if cfg.NextServer.IsValid() {
		bios, efi := cfg.BIOSFile, cfg.EFIFile
		if bios == "" {
			bios = "undionly.kpxe"
		}
		if efi == "" {
			efi = "snponly.efi"
		}
		notIPXE := ""
		if cfg.IPXEScript != "" {
			notIPXE = "tag:!ipxe,"
			args = append(args, fmt.Sprintf("--dhcp-boot=tag:ipxe,%s", cfg.IPXEScript))
		}
		args = append(args,
			fmt.Sprintf("--dhcp-boot=%stag:!efi,%s,,%s", notIPXE, bios, cfg.NextServer),
			fmt.Sprintf("--dhcp-boot=%stag:efi,%s,,%s", notIPXE, efi, cfg.NextServer))
	}
	if ra := os.Getenv(IPv6RAEnv); cfg.RouterAdvertisements || (ra != "" && ra != "0") {
		// A ULA prefix for the lab; nodad: usable at once.
		prefix := fmt.Sprintf("fd%s:%s::", lab.ID[:2], lab.ID[2:])
		mustRun(t, "ip", "-n", host.NS.Name, "-6", "addr", "add", prefix+"2/64", "dev", host.Iface, "nodad")
		args = append(args, "--enable-ra", "--dhcp-range=::,constructor:"+host.Iface+",ra-only")
	}
	args = append(args, cfg.Extra...)
	p := lab.Start(t, host.NS, "dnsmasq-"+host.Name, args...)
	wctx, cancel := context.WithTimeout(ctx, peerStartTimeout)
	defer cancel()
	if err := p.waitUDPPort(wctx, 67); err != nil {
		t.Fatal(err)
	}
	return &Dnsmasq{Process: p, Host: host}
}

// Acks returns how many DHCPACKs dnsmasq sent to mac: one per DHCP
// configuration a client completed.
func (d *Dnsmasq) Acks(mac string) int {
	re := regexp.MustCompile(`DHCPACK\([^)]*\) \S+ ` + regexp.QuoteMeta(strings.ToLower(mac)))
	return len(re.FindAllStringIndex(d.Output(), -1))
}

// StartTFTPD runs tftpd-hpa in the server namespace on ip:69, serving dir
// (read-only, chrooted). It logs to syslog only, so its log file stays empty;
// count DHCP cycles or iPXE banners instead of transfers.
func StartTFTPD(ctx context.Context, t testing.TB, lab *Lab, ip netip.Addr, dir string) *Process {
	t.Helper()
	RequireCommands(t, "in.tftpd")
	p := lab.Start(t, lab.Server, "tftpd",
		"in.tftpd", "--foreground", "--user", "root", "--address", ip.String()+":69", "--secure", dir)
	wctx, cancel := context.WithTimeout(ctx, peerStartTimeout)
	defer cancel()
	if err := p.waitUDPPort(wctx, 69); err != nil {
		t.Fatal(err)
	}
	return p
}

// CopyIPXE copies the iPXE builds that TFTP clients ask for (undionly.kpxe,
// snponly.efi, ipxe.efi) from Debian's /usr/lib/ipxe into dir.
func CopyIPXE(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"undionly.kpxe", "snponly.efi", "ipxe.efi"} {
		src := filepath.Join(IPXEDir, f)
		RequireFiles(t, src)
		if err := copyFile(src, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
}

// IPXEDir holds Debian's iPXE builds (package ipxe).
var IPXEDir = "/usr/lib/ipxe"

// StartHTTPD serves dir over HTTP on addr (ip:port) in ns with busybox httpd
// and waits until it answers.
func StartHTTPD(ctx context.Context, t testing.TB, lab *Lab, ns Netns, addr netip.AddrPort, dir string) *Process {
	t.Helper()
	RequireCommands(t, "busybox")
	p := lab.Start(t, ns, "httpd", "busybox", "httpd", "-f", "-vv", "-p", addr.String(), "-h", dir)
	wctx, cancel := context.WithTimeout(ctx, peerStartTimeout)
	defer cancel()
	if err := WaitHTTP(wctx, ns, "http://"+addr.String()+"/", 0); err != nil {
		t.Fatalf("httpd: %v", err)
	}
	return p
}

// WaitHTTP polls url from inside ns until it answers with status want (any
// status when want is 0).
func WaitHTTP(ctx context.Context, ns Netns, url string, want int) error {
	client := ns.HTTPClient()
	client.Timeout = 2 * time.Second
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if want == 0 || resp.StatusCode == want {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: no %d answer (last: %s): %w", url, want, last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StartNginx serves root over HTTP on addr in ns with nginx, as the seed
// blog's stack does (Debian's defaults that matter for serving files:
// sendfile, tcp_nopush, keepalive), and waits until it answers.
func StartNginx(ctx context.Context, t testing.TB, lab *Lab, ns Netns, addr netip.AddrPort, root string) *Process {
	t.Helper()
	RequireCommands(t, "nginx")
	dir := filepath.Join(lab.Out, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 768; }
http {
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 65;
	types { application/octet-stream efi bin; text/plain ipxe; }
	default_type application/octet-stream;
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		root %[3]s;
	}
}
`, dir, addr, root)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := lab.Start(t, ns, "nginx", "nginx", "-c", path, "-p", dir)
	wctx, cancel := context.WithTimeout(ctx, peerStartTimeout)
	defer cancel()
	if err := WaitHTTP(wctx, ns, "http://"+addr.String()+"/", 0); err != nil {
		t.Fatalf("nginx: %v", err)
	}
	return p
}
