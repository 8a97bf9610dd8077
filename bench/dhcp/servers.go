//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a DHCP server running in the lab's server namespace.
type server struct {
	cmd      *exec.Cmd
	version  string
	durable  string
	mu       sync.Mutex
	out      strings.Builder
	done     chan struct{}
	stopOnce sync.Once
	after    func()  // run after the server stopped (the etcd stacks' etcd)
	peer     *server // rackboot-etcd-2: server B, stopped by after
}

func (s *server) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out.Len() < 1<<20 {
		s.out.Write(b)
	}
	return len(b), nil
}

func (s *server) output() string {
	s.mu.Lock()
	out := s.out.String()
	s.mu.Unlock()
	if s.peer != nil {
		out += s.peer.output()
	}
	return out
}

// stop ends the server by its pid: SIGTERM, then SIGKILL after 10 s.
func (s *server) stop() {
	s.stopOnce.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		if s.after != nil {
			s.after()
		}
	})
}

// cpuSeconds is the server's user+system CPU time so far (/proc/pid/stat).
func (s *server) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	cpu := (ut + st) / 100 // USER_HZ
	if s.peer != nil {
		cpu += s.peer.cpuSeconds()
	}
	return cpu
}

// startServer starts the named server with a fresh lease store in l.dir.
func startServer(ctx context.Context, o options, l *lab, name string) (*server, error) {
	var args []string
	s := &server{done: make(chan struct{})}
	env := os.Environ()
	switch name {
	case "rackboot", "rackboot-before", "rackboot-etcd", "rackboot-etcd-2":
		conf := filepath.Join(l.dir, "rackboot.yaml")
		yaml := fmt.Sprintf(`interface: %s
data_dir: %s
http_addr: "127.0.0.1:0"
tftp_addr: "127.0.0.1:0"
log_level: warn
dhcp:
  mode: full
  lease_time: 1h
  subnets:
    - subnet: %s
      pools: [%s-%s]
`, l.srvIf, filepath.Join(l.dir, "rackboot"), subnet, poolFirst, l.poolLast)
		s.durable = "bbolt, fsynced before each ACK (group commit)"
		if name == "rackboot-etcd" || name == "rackboot-etcd-2" { // etcd.go
			stopEtcd, v, err := startEtcd(ctx, l)
			if err != nil {
				return nil, err
			}
			s.after = stopEtcd
			yaml += etcdStoreYAML("bench-a", etcdClientURL)
			s.durable = "etcd (" + v + ", 1 member), each lease a compare-and-swap, durable before each ACK (group commit)"
		}
		if name == "rackboot-etcd-2" { // cluster.go
			yaml = strings.Replace(yaml, `http_addr: "127.0.0.1:0"`, `http_addr: "`+metricsAddr+`"`, 1)
			s.durable = "2 servers, " + s.durable
		}
		if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
			return nil, err
		}
		path := o.rackboot
		if name == "rackboot-before" {
			path = o.before
		}
		bin, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		args = []string{bin, "serve", "--config", conf}
		s.version = firstLine(exec.Command(bin, "--version"))
	case "kea":
		conf := filepath.Join(l.dir, "kea-dhcp4.json")
		mt := `"multi-threading": {"enable-multi-threading": false},`
		if o.keaThreads > 0 {
			mt = fmt.Sprintf(`"multi-threading": {"enable-multi-threading": true, "thread-pool-size": %d, "packet-queue-size": 256},`, o.keaThreads)
		}
		json := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": [%q], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": %q, "lfc-interval": 0},
  "valid-lifetime": 3600,
  %s
  "subnet4": [{"id": 1, "subnet": %q, "pools": [{"pool": "%s - %s"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": %q}], "severity": "WARN"}]
}}`, l.srvIf, filepath.Join(l.dir, "kea-leases4.csv"), mt, subnet, poolFirst, l.poolLast, filepath.Join(l.dir, "kea.log"))
		if err := os.WriteFile(conf, []byte(json), 0o644); err != nil {
			return nil, err
		}
		// Kea's pid and lock files go to /run/kea by default, shared by
		// every namespace: keep this one's apart.
		env = append(env, "KEA_PIDFILE_DIR="+l.dir, "KEA_LOCKFILE_DIR="+l.dir)
		args = []string{"kea-dhcp4", "-c", conf}
		s.version = "kea-dhcp4 " + firstLine(exec.Command("kea-dhcp4", "-v"))
		s.durable = "memfile CSV, appended, not fsynced"
		if o.keaThreads > 0 {
			s.version += fmt.Sprintf(", %d threads", o.keaThreads)
		}
	case "dnsmasq":
		args = []string{"dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-resolv", "--no-hosts",
			"--interface=" + l.srvIf, "--bind-interfaces", "--user=root", "--group=root",
			"--pid-file=" + filepath.Join(l.dir, "dnsmasq.pid"), "--dhcp-leasefile=" + filepath.Join(l.dir, "dnsmasq.leases"),
			fmt.Sprintf("--dhcp-range=%s,%s,%s,1h", poolFirst, l.poolLast, netmask), "--dhcp-lease-max=16000000", "--dhcp-authoritative",
			// Neither rackboot nor Kea pings an address before offering it
			// by default; dnsmasq does, one ping at a time, which alone
			// keeps it under a few exchanges per second. And no log line
			// per packet, as the others run at warning level.
			"--no-ping", "--quiet-dhcp"}
		s.version = firstLine(exec.Command("dnsmasq", "--version"))
		s.durable = "lease file rewritten, not fsynced"
	default:
		return nil, fmt.Errorf("unknown server %q (want rackboot, rackboot-before, kea or dnsmasq)", name)
	}
	if err := s.launch(l.srvNS, args, env); err != nil {
		if s.after != nil {
			s.after()
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if name == "rackboot-etcd-2" {
		// Server B: the same configuration in its own namespace, on
		// A's etcd through the bridge.
		conf := filepath.Join(l.dir, "rackboot-b.yaml")
		yaml, _ := os.ReadFile(filepath.Join(l.dir, "rackboot.yaml"))
		yb := strings.NewReplacer("interface: "+l.srvIf, "interface: "+l.srv2If,
			filepath.Join(l.dir, "rackboot")+"\n", filepath.Join(l.dir, "rackboot-b")+"\n",
			"name: bench-a", "name: bench-b", etcdClientURL, etcdClusterURL).Replace(string(yaml))
		b := &server{done: make(chan struct{}), version: s.version}
		err := os.WriteFile(conf, []byte(yb), 0o644)
		if err == nil {
			err = b.launch(l.srv2NS, []string{args[0], "serve", "--config", conf}, env)
		}
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("%s, server B: %w", name, err)
		}
		stopEtcd := s.after
		s.peer, s.after = b, func() { b.stop(); stopEtcd() }
	}
	return s, nil
}

// launch starts the server's command in namespace ns and checks that it
// is still running a second later.
func (s *server) launch(ns string, args, env []string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	s.cmd = cmd
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case <-s.done:
		return fmt.Errorf("exited at once:\n%s", s.output())
	case <-time.After(time.Second):
	}
	return nil
}

func firstLine(c *exec.Cmd) string {
	out, _ := c.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}
