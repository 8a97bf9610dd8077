//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RackbootBinEnv names a prebuilt rackboot binary to test instead of building
// one from ./cmd/rackboot.
const RackbootBinEnv = "RACKBOOT_BIN"

// BuildRackboot builds rackboot/cmd/rackboot into dir (or returns
// $RACKBOOT_BIN) and returns the binary's path.
func BuildRackboot(dir string) (string, error) {
	if bin := os.Getenv(RackbootBinEnv); bin != "" {
		return bin, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build rackboot: no go tool on PATH: %w", err)
	}
	bin := filepath.Join(dir, "rackboot")
	cmd := exec.Command(goTool, "build", "-o", bin, "rackboot/cmd/rackboot")
	cmd.Dir = packageDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build rackboot/cmd/rackboot: %v\n%s", err, out)
	}
	return bin, nil
}

// RackbootConfig is the part of rackboot's YAML configuration the tests set.
// Zero fields are left out, so rackboot's defaults apply.
type RackbootConfig struct {
	MenuTitle    string
	MenuTimeout  time.Duration
	MenuDefault  string // item id: smartos-<build>, smartos-<build>-noimport, memtest, shell, reboot, exit
	Console      string // smartos.console
	RootPassword string
	BootArgs     [][2]string // smartos.boot_args, in order
	MemtestBIOS  string
	MemtestEFI   string
	// For dhcp.mode full (RackbootOptions.DHCPMode "full"): dhcp.lease_time
	// and dhcp.subnets.
	LeaseTime   time.Duration
	DHCPSubnets []DHCPSubnet
	// ServerName is server.name; EtcdEndpoints, when set, make the store
	// etcd (store.backend: etcd) under EtcdPrefix.
	ServerName    string
	EtcdEndpoints []string
	EtcdPrefix    string
	IPv6RA        string // ipv6.ra: auto or off; "" leaves rackboot's default (auto)
	// ExtraYAML is appended as it is: top-level keys the fields above do
	// not cover (targets, secure_boot).
	ExtraYAML string
}

// DHCPSubnet is one dhcp.subnets entry with one pool.
type DHCPSubnet struct {
	Subnet netip.Prefix
	Pool   string // "10.231.7.100-10.231.7.199" or a prefix
}

// YAML renders the configuration file.
func (c RackbootConfig) YAML() string {
	var b strings.Builder
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	b.WriteString("menu:\n")
	if c.MenuTitle != "" {
		fmt.Fprintf(&b, "  title: %s\n", q(c.MenuTitle))
	}
	if c.MenuTimeout != 0 {
		fmt.Fprintf(&b, "  timeout: %s\n", c.MenuTimeout)
	}
	if c.MenuDefault != "" {
		fmt.Fprintf(&b, "  default: %s\n", q(c.MenuDefault))
	}
	b.WriteString("smartos:\n")
	if c.Console != "" {
		fmt.Fprintf(&b, "  console: %s\n", q(c.Console))
	}
	if c.RootPassword != "" {
		fmt.Fprintf(&b, "  root_password: %s\n", q(c.RootPassword))
	}
	if len(c.BootArgs) > 0 {
		b.WriteString("  boot_args:\n")
		for _, kv := range c.BootArgs {
			fmt.Fprintf(&b, "    %s: %s\n", kv[0], q(kv[1]))
		}
	}
	if c.MemtestBIOS != "" || c.MemtestEFI != "" {
		b.WriteString("memtest:\n")
		if c.MemtestBIOS != "" {
			fmt.Fprintf(&b, "  bios: %s\n", q(c.MemtestBIOS))
		}
		if c.MemtestEFI != "" {
			fmt.Fprintf(&b, "  efi: %s\n", q(c.MemtestEFI))
		}
	}
	if c.LeaseTime != 0 || len(c.DHCPSubnets) > 0 {
		b.WriteString("dhcp:\n")
		if c.LeaseTime != 0 {
			fmt.Fprintf(&b, "  lease_time: %s\n", c.LeaseTime)
		}
		if len(c.DHCPSubnets) > 0 {
			b.WriteString("  subnets:\n")
			for _, s := range c.DHCPSubnets {
				fmt.Fprintf(&b, "    - subnet: %s\n      pools: [%s]\n", q(s.Subnet.String()), q(s.Pool))
			}
		}
	}
	if c.IPv6RA != "" {
		fmt.Fprintf(&b, "ipv6:\n  ra: %s\n", q(c.IPv6RA))
	}
	if c.ServerName != "" {
		fmt.Fprintf(&b, "server:\n  name: %s\n", q(c.ServerName))
	}
	if len(c.EtcdEndpoints) > 0 {
		b.WriteString("store:\n  backend: etcd\n  etcd:\n    endpoints:\n")
		for _, ep := range c.EtcdEndpoints {
			fmt.Fprintf(&b, "      - %s\n", q(ep))
		}
		if c.EtcdPrefix != "" {
			fmt.Fprintf(&b, "    prefix: %s\n", q(c.EtcdPrefix))
		}
	}
	b.WriteString(c.ExtraYAML)
	return b.String()
}

// RackbootOptions says how to run rackboot in a lab.
type RackbootOptions struct {
	Binary   string // from BuildRackboot
	DHCPMode string // "proxy", "off", or "full" (with Config.DHCPSubnets)
	DataDir  string // with the platforms (see MakePlatform)
	Config   RackbootConfig
	Extra    []string // more flags
	// Host, when set, runs rackboot on that lab host (its eth0 and
	// address) instead of the lab's server namespace (br0, ServerIP).
	Host *Host
	// Name names its log and configuration file; default "rackboot".
	Name string
}

// Rackboot is a running rackboot serve.
type Rackboot struct {
	*Process
	URL     string // http://<server ip>:8080
	IP      netip.Addr
	NS      Netns
	DataDir string
	Config  string // path of the YAML file
}

// RackbootHTTPPort is where rackboot serves HTTP in the lab.
const RackbootHTTPPort = 8080

// StartRackboot runs `rackboot serve` in the lab's server namespace, bound to
// br0 and the server address, and waits until /healthz answers 200. Its log
// goes to <Out>/rackboot.log and is printed if the test fails, together with
// the menu it would give a BIOS and a UEFI client.
func StartRackboot(ctx context.Context, t testing.TB, lab *Lab, opts RackbootOptions) *Rackboot {
	t.Helper()
	if opts.Binary == "" {
		t.Fatal("StartRackboot: no binary (BuildRackboot failed?)")
	}
	name := opts.Name
	if name == "" {
		name = "rackboot"
	}
	cfgPath := filepath.Join(lab.Out, name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(opts.Config.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	ip, ns, iface := lab.ServerIP, lab.Server, Bridge
	if opts.Host != nil {
		ip, ns, iface = opts.Host.IP, opts.Host.NS, opts.Host.Iface
	}
	rb := &Rackboot{
		URL:     fmt.Sprintf("http://%s:%d", ip, RackbootHTTPPort),
		IP:      ip,
		NS:      ns,
		DataDir: opts.DataDir,
		Config:  cfgPath,
	}
	args := []string{opts.Binary, "serve",
		"--config", cfgPath,
		"--interface", iface,
		"--data-dir", opts.DataDir,
		"--http-addr", fmt.Sprintf("%s:%d", ip, RackbootHTTPPort),
		"--advertise", ip.String(),
		"--dhcp-mode", opts.DHCPMode,
		"--tftp-addr", ip.String() + ":69",
		"--ipxe-dir", IPXEDir,
		"--log-level", "debug",
	}
	args = append(args, opts.Extra...)
	rb.Process = lab.Start(t, ns, name, args...)
	lab.AddLog(name+" config", cfgPath, false)
	t.Cleanup(func() {
		if t.Failed() {
			rb.dumpMenus(t)
		}
	})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- WaitHTTP(wctx, ns, rb.URL+"/healthz", 200) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("rackboot did not become ready: %v", err)
		}
	case <-rb.Done():
		cancel()
		_, code := rb.Exited()
		t.Fatalf("%s exited with status %d during start-up", name, code)
	}
	return rb
}

// Get fetches a path (e.g. "/boot.ipxe?mac=..&arch=..") from rackboot.
func (rb *Rackboot) Get(ctx context.Context, path string) (int, string, error) {
	req, err := newRequest(ctx, rb.URL+path)
	if err != nil {
		return 0, "", err
	}
	resp, err := rb.NS.HTTPClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}

// dumpMenus logs the menu rackboot serves to a made-up BIOS and UEFI client.
func (rb *Rackboot) dumpMenus(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, arch := range []string{"bios", "efi-x86_64"} {
		path := "/boot.ipxe?mac=52:54:00:00:00:01&arch=" + arch
		code, body, err := rb.Get(ctx, path)
		if err != nil {
			t.Logf("GET %s: %v", path, err)
			continue
		}
		t.Logf("──── GET %s: %d ────\n%s", path, code, body)
	}
}
