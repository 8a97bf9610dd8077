//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// env is what every stack serves: the same files, from the same inodes.
type env struct {
	rackboot string // binary
	work     string // scratch directory of this harness run
	web      string // web root: smartos/<build>/platform/..., ipxe/bootstrap.ipxe
	tftpRoot string // Debian's iPXE builds, for tftpd-hpa
	build    string // the SmartOS build name
	ping     bool   // let the DHCP servers ping an address before offering it
	// rackbootEnv is added to rackboot's environment.
	rackbootEnv []string
	// rackbootLog is rackboot's --log-level, when not empty.
	rackbootLog string
}

// stack is one boot server setup under test.
type stack struct {
	name  string // seed, rackboot-proxy, rackboot-full
	title string
	// start brings the stack up in l and returns the process whose memory
	// is reported (rackboot), or nil.
	start func(ctx context.Context, l *lab, e *env) (*proc, error)
}

var stacks = []stack{
	{"seed", "seed stack (dnsmasq + tftpd-hpa + nginx)", startSeed},
	{"rackboot-proxy", "rackboot proxyDHCP beside dnsmasq", startRackbootProxy},
	{"rackboot-full", "rackboot as the DHCP server", startRackbootFull},
}

// dnsmasqArgs is the network's DHCP server: leases only, unless extra adds
// boot options.
func dnsmasqArgs(l *lab, e *env, extra ...string) []string {
	args := []string{"dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--port=0", "--user=root", "--group=root", "--log-facility=-",
		"--pid-file=" + filepath.Join(l.dir, "dnsmasq.pid"),
		"--dhcp-leasefile=" + filepath.Join(l.dir, "dnsmasq.leases"),
		"--interface=" + clientIface, "--bind-interfaces",
		"--dhcp-lease-max=10000",
		fmt.Sprintf("--dhcp-range=%s,%s,%s,1h", leaseFirst, leaseLast, maskOf(labPrefix.Bits())),
	}
	if !e.ping {
		// dnsmasq pings every new address for 3 s before offering it, one
		// at a time: 500 machines would wait 25 minutes for the DHCP
		// server alone. See BENCHMARKS.md.
		args = append(args, "--no-ping")
	}
	return append(args, extra...)
}

func maskOf(bits int) string {
	m := uint32(0xffffffff) << (32 - bits)
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

func startDnsmasq(ctx context.Context, l *lab, args []string) error {
	p, err := l.start("dnsmasq", l.dhcp, args...)
	if err != nil {
		return err
	}
	return p.waitListen(ctx, "udp", 67)
}

// startSeed is the seed blog's stack as its user needed it: a DHCP server
// that hands PXE ROMs next-server and undionly.kpxe and hands iPXE (user
// class "iPXE", dnsmasq's --dhcp-userclass) the menu URL instead, so that
// iPXE does not load itself again; tftpd-hpa with Debian's iPXE; nginx.
func startSeed(ctx context.Context, l *lab, e *env) (*proc, error) {
	menu := fmt.Sprintf("http://%s/ipxe/bootstrap.ipxe", serverIP)
	err := startDnsmasq(ctx, l, dnsmasqArgs(l, e,
		"--dhcp-userclass=set:ipxe,iPXE",
		"--dhcp-match=set:efi,option:client-arch,7",
		"--dhcp-boot=tag:ipxe,"+menu,
		fmt.Sprintf("--dhcp-boot=tag:!ipxe,tag:!efi,undionly.kpxe,,%s", serverIP),
		fmt.Sprintf("--dhcp-boot=tag:!ipxe,tag:efi,ipxe.efi,,%s", serverIP)))
	if err != nil {
		return nil, err
	}
	tftpd, err := l.start("tftpd-hpa", l.srv, "in.tftpd", "--foreground", "--user", "root",
		"--address", serverIP.String()+":69", "--secure", e.tftpRoot)
	if err != nil {
		return nil, err
	}
	if err := tftpd.waitListen(ctx, "udp", 69); err != nil {
		return nil, err
	}
	conf := filepath.Join(l.dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(l.dir, e.web)), 0o644); err != nil {
		return nil, err
	}
	nginx, err := l.start("nginx", l.srv, "nginx", "-c", conf, "-p", l.dir)
	if err != nil {
		return nil, err
	}
	return nil, nginx.waitListen(ctx, "tcp", 80)
}

// nginxConf is Debian's /etc/nginx/nginx.conf as installed (worker processes,
// connections, sendfile, tcp_nopush, access log, gzip), serving the web root.
func nginxConf(dir, root string) string {
	return fmt.Sprintf(`daemon off;
user www-data;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 768; }
http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log %[1]s/nginx-access.log;
	gzip on;
	client_body_temp_path %[1]s/nginx-body;
	proxy_temp_path %[1]s/nginx-proxy;
	fastcgi_temp_path %[1]s/nginx-fastcgi;
	uwsgi_temp_path %[1]s/nginx-uwsgi;
	scgi_temp_path %[1]s/nginx-scgi;
	server {
		listen %[2]s:80;
		root %[3]s;
	}
}
`, dir, serverIP, root)
}

func startRackbootProxy(ctx context.Context, l *lab, e *env) (*proc, error) {
	if err := startDnsmasq(ctx, l, dnsmasqArgs(l, e)); err != nil {
		return nil, err
	}
	return startRackboot(ctx, l, e, "proxy", "")
}

func startRackbootFull(ctx context.Context, l *lab, e *env) (*proc, error) {
	ping := "0s"
	if e.ping {
		ping = "300ms"
	}
	return startRackboot(ctx, l, e, "full", fmt.Sprintf(`dhcp:
  mode: full
  ping_check: %s
  subnets:
    - subnet: %s
      pools: ["%s-%s"]
`, ping, labPrefix, leaseFirst, leaseLast))
}

// startRackboot runs rackboot serve on br0 with a fresh data directory that
// holds the platform (hard links: the same files nginx serves).
func startRackboot(ctx context.Context, l *lab, e *env, mode, extraYAML string) (*proc, error) {
	return startRackbootAt(ctx, l, e, "rackboot", l.srv, "br0", serverIP, mode, extraYAML)
}

// supportsFull says whether this rackboot build has the full DHCP mode.
func supportsFull(bin string) bool {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	return strings.Contains(string(out), "full")
}
