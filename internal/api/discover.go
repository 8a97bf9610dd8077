package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ServeFile, in the data directory, says that a rackboot serve runs on it
// and where its API is. serve holds the store (one process at a time), so
// the CLI sends its work there instead of opening the store itself.
const ServeFile = "serve.json"

// ServeInfo is the content of ServeFile.
type ServeInfo struct {
	PID     int       `json:"pid"`
	APIURL  string    `json:"api_url"` // "http://127.0.0.1:8080": the API is under /api/v1
	Started time.Time `json:"started"`
}

// Announce writes ServeFile for a server listening on addr, and returns
// the func that removes it at shutdown (if it is still ours).
func Announce(dataDir string, addr net.Addr) (func(), error) {
	info := ServeInfo{PID: os.Getpid(), APIURL: LocalURL(addr), Started: time.Now().UTC()}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, ServeFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("announce the server: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("announce the server: %w", err)
	}
	return func() {
		if cur, err := readServeInfo(dataDir); err == nil && cur.PID == info.PID {
			os.Remove(path)
		}
	}, nil
}

// LocalURL is how a program on this host reaches a listener: its own
// address, or loopback for a wildcard one.
func LocalURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	ip := tcp.IP
	switch {
	case ip == nil || ip.IsUnspecified() && ip.To4() != nil:
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

func readServeInfo(dataDir string) (ServeInfo, error) {
	var info ServeInfo
	b, err := os.ReadFile(filepath.Join(dataDir, ServeFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %w", ServeFile, err)
	}
	return info, nil
}

// FindServer returns the running server named in the data directory's
// ServeFile: its process must be alive and its /healthz must answer. A
// file left by a server that died is ignored. It is the one way every
// command finds a running serve.
func FindServer(ctx context.Context, dataDir string) (ServeInfo, bool) {
	info, err := readServeInfo(dataDir)
	if err != nil {
		return info, false
	}
	if info.PID <= 0 || !processAlive(info.PID) || info.APIURL == "" {
		return info, false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, info.APIURL+"/healthz", nil)
	if err != nil {
		return info, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return info, false
	}
	resp.Body.Close()
	return info, resp.StatusCode == http.StatusOK
}

// processAlive reports whether pid exists (signal 0 checks without sending).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ReadToken finds the API token: flag (--token), then $RACKBOOT_TOKEN,
// then the data directory's token file (readable by whoever runs serve).
func ReadToken(flag, dataDir string) string {
	if flag != "" {
		return flag
	}
	if t := os.Getenv("RACKBOOT_TOKEN"); t != "" {
		return t
	}
	b, _ := os.ReadFile(filepath.Join(dataDir, TokenFile))
	return strings.TrimSpace(string(b))
}

// Discover returns a client of the rackboot a command talks to: server
// (--server) if given, else the serve that ServeFile names if it is alive;
// found is false when neither, and the client then points at fallback.
// where says which, for the user.
func Discover(ctx context.Context, dataDir, server, token, fallback string) (c *Client, where string, found bool) {
	c = &Client{Base: server, Token: ReadToken(token, dataDir)}
	switch {
	case server != "":
		where, found = "rackboot serve at "+server, true
	default:
		if info, ok := FindServer(ctx, dataDir); ok {
			c.Base = info.APIURL
			where, found = fmt.Sprintf("rackboot serve (pid %d) at %s", info.PID, info.APIURL), true
		} else {
			c.Base = fallback
		}
	}
	c.Base = strings.TrimSuffix(c.Base, "/")
	if c.Base != "" && !strings.Contains(c.Base, "://") {
		c.Base = "http://" + c.Base
	}
	return c, where, found
}
