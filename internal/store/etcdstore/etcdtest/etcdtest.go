// Package etcdtest starts real etcd servers for tests: a single member for
// the conformance suite, or a cluster of several members on 127.0.0.1 with
// their own ports, whose members a test can kill (SIGKILL) and start again.
// Every process and data directory is removed by t.Cleanup.
//
// The server is Debian's etcd-server (/usr/bin/etcd, etcd 3.4), or the binary
// named by $RACKBOOT_ETCD. When there is none, the test is skipped, or fails
// when RACKBOOT_ETCD_REQUIRED=1 (make unit sets it).
package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds the wait for a member (or a cluster) to be healthy.
const startTimeout = 60 * time.Second

// Binary returns the etcd server binary, or skips t (fails it when
// RACKBOOT_ETCD_REQUIRED=1) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RACKBOOT_ETCD"); p != "" {
		return p
	}
	p, err := exec.LookPath("etcd")
	if err == nil {
		return p
	}
	msg := "no etcd server binary in PATH (install Debian's etcd-server: apt-get install etcd-server, or set RACKBOOT_ETCD)"
	if os.Getenv("RACKBOOT_ETCD_REQUIRED") == "1" {
		t.Fatal(msg + "; RACKBOOT_ETCD_REQUIRED=1")
	}
	t.Skip(msg)
	return ""
}

// Cluster is a running etcd cluster.
type Cluster struct {
	t       testing.TB
	bin     string
	token   string
	initial string // --initial-cluster
	Members []*Member
}

// Member is one etcd process. Its ports and data stay the same across Kill
// and Restart.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string
	dataDir   string
	logPath   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts a cluster of n members and waits until every member is
// healthy (the cluster has a leader). The cluster is stopped at cleanup.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	ports := freePorts(t, 2*n)
	c := &Cluster{t: t, bin: bin, token: fmt.Sprintf("rackboot-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: "http://127.0.0.1:" + strconv.Itoa(ports[2*i]),
			PeerURL:   "http://127.0.0.1:" + strconv.Itoa(ports[2*i+1]),
			dataDir:   filepath.Join(dir, fmt.Sprintf("m%d.etcd", i)),
			logPath:   filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(c.stop)
	for i := range c.Members {
		c.start(i, "new")
	}
	for i := range c.Members {
		c.WaitHealthy(i)
	}
	return c
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.ClientURL
	}
	return out
}

// start runs member i's etcd process.
func (c *Cluster) start(i int, state string) {
	c.t.Helper()
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		c.t.Fatalf("etcd member %s is already running", m.Name)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(c.bin,
		"--name", m.Name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", c.initial,
		"--initial-cluster-state", state,
		"--initial-cluster-token", c.token,
		"--logger", "zap", "--log-outputs", "stderr",
	)
	cmd.Env = Env()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start etcd member %s: %v", m.Name, err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(cmd, m.exited)
}

// Env is the environment to run etcd in: the test's without ETCD_* settings
// (etcd reads its flags from them too, so a host's would change the
// cluster), plus ETCD_UNSUPPORTED_ARCH where etcd 3.4 wants it.
func Env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			out = append(out, kv)
		}
	}
	switch runtime.GOARCH {
	case "amd64", "arm64", "ppc64le", "s390x":
	default:
		out = append(out, "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	return out
}

// Kill sends member i SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	select {
	case <-m.exited:
	case <-time.After(startTimeout):
		c.t.Fatalf("etcd member %s did not exit after SIGKILL", m.Name)
	}
	m.cmd = nil
}

// Restart starts a killed member i again on its data and waits until it is
// healthy. Use Resume, which does not wait, when the cluster cannot have a
// quorum until more members are back.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Resume(i)
	c.WaitHealthy(i)
}

// Resume starts a killed member i again on its data, without waiting.
func (c *Cluster) Resume(i int) {
	c.t.Helper()
	c.start(i, "existing")
}

// WaitHealthy waits until member i answers /health with a leader.
func (c *Cluster) WaitHealthy(i int) {
	c.t.Helper()
	m := c.Members[i]
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		m.mu.Lock()
		exited := m.exited
		m.mu.Unlock()
		select {
		case <-exited:
			c.t.Fatalf("etcd member %s exited:\n%s", m.Name, c.LogTail(i))
		default:
		}
		resp, err := client.Get(m.ClientURL + "/health")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"health":"true"`)) {
				return
			}
			last = string(b)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("etcd member %s not healthy after %v (last: %s):\n%s", m.Name, startTimeout, last, c.LogTail(i))
}

// Leader returns the index of the member that is the leader, asking each
// member's /v3/maintenance/status (the gRPC gateway); -1 when none answers.
func (c *Cluster) Leader(ctx context.Context) int {
	client := &http.Client{Timeout: 2 * time.Second}
	for i, m := range c.Members {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.ClientURL+"/v3/maintenance/status", strings.NewReader("{}"))
		if err != nil {
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// {"header":{"member_id":"X",...},"leader":"X",...}
		id := jsonString(b, `"member_id":"`)
		if id != "" && id == jsonString(b, `"leader":"`) {
			return i
		}
	}
	return -1
}

func jsonString(b []byte, after string) string {
	i := bytes.Index(b, []byte(after))
	if i < 0 {
		return ""
	}
	rest := b[i+len(after):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// LogTail is the end of member i's log, for failure messages.
func (c *Cluster) LogTail(i int) string {
	b, err := os.ReadFile(c.Members[i].logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop kills every member.
func (c *Cluster) stop() {
	for i := range c.Members {
		c.Kill(i)
	}
}

// freePorts finds n distinct free TCP ports on 127.0.0.1. Another process
// could take one before etcd binds it; the member then fails to start and
// says so.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(errors.Join(errors.New("find a free port"), err))
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
