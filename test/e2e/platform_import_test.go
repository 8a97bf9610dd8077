package e2e_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// importBuild is the platform brought in with `rackboot platform import`.
const importBuild = "20250301T000000Z"

// TestPlatformImportBootsOptions: a platform published the way MNX does
// (platform-<build>.tgz with md5sums.txt and SINGLE_USER_ROOT_PASSWORD.txt
// beside it) on a web server in the lab is imported with `rackboot platform
// import URL` while rackboot serves (the CLI goes through the server's
// API). A BIOS machine then boots it through the SmartOS options menu,
// driven with keys: rescue mode on, console changed twice (text, ttya,
// ttyb). The test kernel shows the -B arguments the choices made.
func TestPlatformImportBootsOptions(t *testing.T) {
	e2e.RequireVM(t)
	bin := needRackboot(t)
	e2e.RequireCommands(t, "dnsmasq", "busybox")
	e2e.RequireFiles(t, filepath.Join(e2e.IPXEDir, "undionly.kpxe"))
	ctx := testContext(t, bootTimeout)
	lab := e2e.NewLab(t)

	// The mirror: a web server on another host of the lab.
	fx := e2e.MakePlatform(t, filepath.Join(lab.Out, "stage"), importBuild)
	mirror := filepath.Join(lab.Out, "mirror")
	tgz := publishPlatform(t, mirror, fx)
	web := lab.AddHost(t, "web", lab.Addr(3))
	e2e.StartHTTPD(ctx, t, lab, web.NS, netip.AddrPortFrom(web.IP, 80), mirror)
	url := fmt.Sprintf("http://%s/%s/platform-%s.tgz", web.IP, importBuild, importBuild)

	// rackboot serves an empty data directory; the menu waits a minute, so
	// that the keys land in it.
	data := filepath.Join(lab.Out, "data")
	e2e.StartDnsmasq(ctx, t, lab, lab.AddHost(t, "dhcp", lab.Addr(2)), e2e.PlainRouter())
	cfg := configFor("")
	cfg.MenuTimeout = 60 * time.Second
	rb := e2e.StartRackboot(ctx, t, lab, e2e.RackbootOptions{Binary: bin, DHCPMode: "proxy", DataDir: data, Config: cfg})

	start := time.Now()
	out := lab.Exec(t, lab.Server, bin, "platform", "import", url, "--data-dir", data)
	t.Logf("rackboot platform import (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if !strings.Contains(out, "using rackboot serve (pid ") || !strings.Contains(out, "imported "+importBuild) {
		t.Fatalf("the import did not go through the running server, or failed")
	}
	checkImported(t, lab, bin, data, tgz, fx)

	// The menu: wait for the machine to fetch it, then drive it.
	vm, mon := bootBIOSWithMonitor(ctx, t, lab, "options")
	menuServed := regexp.MustCompile(`msg="menu served" .*\bmac=` + regexp.QuoteMeta(vm.MAC) + `\b`)
	wctx, cancel := context.WithTimeout(ctx, e2e.VMTimeout)
	err := e2e.WaitUntil(wctx, func() bool {
		exited, _ := vm.Proc.Exited()
		return exited || menuServed.MatchString(rb.Output())
	})
	cancel()
	if err != nil || !menuServed.MatchString(rb.Output()) {
		t.Fatalf("the machine never fetched its menu (%v)", err)
	}
	t.Logf("menu served %s after the machine started", time.Since(vm.Started).Round(100*time.Millisecond))
	time.Sleep(2 * time.Second) // iPXE draws the menu
	for _, step := range []struct {
		key  string
		then string // what the options menu shows afterwards
	}{
		{"o", `Console: text \(`},
		{"c", `Console: ttya \(`},
		{"c", `Console: ttyb \(`},
		{"r", `Rescue mode \(noimport: zpool not imported\): true`},
		{"b", `Booting SmartOS ` + importBuild + `: console ttyb, noimport true`},
	} {
		before := vm.Count(regexp.MustCompile(step.then))
		if step.key == "b" {
			// The boot's first line appears once; the kernel's -B line
			// below is the proof that the keys did their work.
			before = 0
		}
		if err := mon.sendKey(step.key); err != nil {
			t.Fatalf("sendkey %s: %v", step.key, err)
		}
		re := regexp.MustCompile(step.then)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := e2e.WaitUntil(wctx, func() bool { return vm.Count(re) > before })
		cancel()
		if err != nil {
			t.Fatalf("after key %q the console never showed /%s/ more than the %d times before (now %d)", step.key, step.then, before, vm.Count(re))
		}
		t.Logf("key %q: console shows /%s/ (%d times before)", step.key, step.then, before)
	}
	vm.WaitBoot(ctx, t, e2e.KernelDone)

	r, err := e2e.ParseKernelReport(vm.Text())
	if err != nil {
		t.Fatalf("test kernel report: %v", err)
	}
	t.Logf("kernel cmdline: %s", r.Cmdline)
	kernelURL, args := e2e.KernelCmdlineArgs(r.Cmdline)
	if !strings.HasSuffix(kernelURL, fx.Kernel.URLPath) {
		t.Errorf("kernel %q, want %s", kernelURL, fx.Kernel.URLPath)
	}
	// No kernel debugger flag, then the -B list the options made: the
	// console chosen, the configured root_shadow and extras, noimport=true.
	wantB := regexp.MustCompile(`^ *-B console=ttyb,root_shadow='\$5\$[^']+',smartos=true,noimport=true,rbk_e2e=yes$`)
	if !wantB.MatchString(args) {
		t.Errorf("kernel arguments %q, want %s", args, wantB)
	}
	if len(r.Modules) != 2 {
		t.Fatalf("modules: %+v, want boot_archive and its hash", r.Modules)
	}
	checkModule(t, r.Modules[0], fx.Archive)
	checkModule(t, r.Modules[1], fx.Hash)
	if code, err := vm.ExitCode(10 * time.Second); err != nil || code != 33 {
		t.Errorf("QEMU exit: %d, %v (want 33)", code, err)
	}
}

// publishPlatform lays out dir the way MNX's mirror does for fx's build and
// returns the tarball: <build>/platform-<build>.tgz (top directory
// platform-<build>/ holding what goes under platform/), md5sums.txt and
// SINGLE_USER_ROOT_PASSWORD.txt.
func publishPlatform(t *testing.T, dir string, fx e2e.Fixture) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	src := filepath.Join(fx.Dir, "platform")
	top := "platform-" + fx.Build
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(filepath.Join(top, rel))
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatalf("platform tarball: %v", err)
	}
	tgz := buf.Bytes()
	sum := md5.Sum(tgz)
	name := "platform-" + fx.Build + ".tgz"
	for file, content := range map[string]string{
		name:                            string(tgz),
		"md5sums.txt":                   hex.EncodeToString(sum[:]) + "  " + name + "\n",
		"SINGLE_USER_ROOT_PASSWORD.txt": "rescue-" + fx.Build + "\n",
	} {
		p := filepath.Join(dir, fx.Build, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tgz
}

// checkImported: the catalog has the build with the mirror's checksum and
// rescue password, and its files are the fixture's.
func checkImported(t *testing.T, lab *e2e.Lab, bin, data string, tgz []byte, fx e2e.Fixture) {
	t.Helper()
	out := lab.Exec(t, lab.Server, bin, "platform", "show", importBuild, "--data-dir", data, "-o", "json")
	var p struct {
		Build        string `json:"build"`
		MD5          string `json:"md5"`
		RootPassword string `json:"root_password"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &p); err != nil {
		t.Fatalf("platform show -o json: %v\n%s", err, out)
	}
	sum := md5.Sum(tgz)
	if p.Build != importBuild || p.MD5 != hex.EncodeToString(sum[:]) || p.RootPassword != "rescue-"+importBuild {
		t.Errorf("catalog entry %+v", p)
	}
	for _, f := range []e2e.FixtureFile{fx.Kernel, fx.Archive, fx.Hash} {
		want, _ := os.ReadFile(f.Path)
		got, err := os.ReadFile(filepath.Join(data, filepath.FromSlash(f.URLPath)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after import: %v (%d bytes, want %d)", f.URLPath, err, len(got), len(want))
		}
	}
}

// bootBIOSWithMonitor starts the same BIOS machine as e2e.RunBIOS, with
// QEMU's human monitor on a unix socket so that the test can type at it.
func bootBIOSWithMonitor(ctx context.Context, t *testing.T, lab *e2e.Lab, name string) (*e2e.VM, *monitor) {
	t.Helper()
	tap := lab.AddTap(t)
	mac := e2e.RandomMAC()
	serial := filepath.Join(lab.Out, name+".serial")
	sockDir, err := os.MkdirTemp("", "rbmon") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "hmp")
	e2e.RequireAccel(t)
	argv := append([]string{e2e.QEMUBinary, "-name", "rbe2e-" + name}, e2e.AccelArgs()...)
	argv = append(argv, "-smp", "1", "-display", "none",
		"-monitor", "unix:"+sock+",server,nowait",
		"-no-reboot",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-serial", "file:"+serial,
		"-machine", "pc,graphics=off", "-m", "512", "-boot", "n",
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1", mac),
	)
	vm := &e2e.VM{Name: name, Firmware: e2e.BIOS, MAC: mac, Tap: tap, Console: &e2e.Console{Path: serial}, Started: time.Now()}
	vm.Proc = lab.Start(t, lab.Server, "qemu-"+name, argv...)
	lab.AddLog(name+" serial console", serial, true)
	go func() {
		select {
		case <-ctx.Done():
			vm.Proc.Stop()
		case <-vm.Proc.Done():
		}
	}()
	t.Logf("started BIOS client %s (mac %s, %s, accel %s) with a monitor on %s", name, mac, tap, e2e.Accel(), sock)
	mon, err := dialMonitor(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mon.close)
	return vm, mon
}

// monitor is a connection to QEMU's human monitor (HMP).
type monitor struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialMonitor(ctx context.Context, path string) (*monitor, error) {
	var conn net.Conn
	err := e2e.WaitUntil(ctx, func() bool {
		var err error
		conn, err = net.Dial("unix", path)
		return err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("QEMU monitor %s: %w", path, err)
	}
	m := &monitor{conn: conn, r: bufio.NewReader(conn)}
	if _, err := m.prompt(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("QEMU monitor %s: %w", path, err)
	}
	return m, nil
}

// prompt reads up to the next "(qemu) " prompt.
func (m *monitor) prompt() (string, error) {
	m.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for !strings.HasSuffix(b.String(), "(qemu) ") {
		c, err := m.r.ReadByte()
		if err != nil {
			return b.String(), err
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// sendKey presses and releases one key (a QEMU key name: "o", "ret", "down").
func (m *monitor) sendKey(key string) error {
	if _, err := fmt.Fprintf(m.conn, "sendkey %s\n", key); err != nil {
		return err
	}
	out, err := m.prompt()
	if err != nil {
		return err
	}
	if strings.Contains(out, "rror") || strings.Contains(out, "nknown") {
		return fmt.Errorf("monitor: %s", out)
	}
	return nil
}

func (m *monitor) close() { m.conn.Close() }
