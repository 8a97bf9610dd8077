package main

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

	"rackboot/internal/api"
)

// serveFile, in the data directory, says that a rackboot serve runs on it
// and where its API is. serve holds the store (one process at a time), so
// the CLI sends its work there instead of opening the store itself.
const serveFile = "serve.json"

// serveInfo is the content of serveFile.
type serveInfo struct {
	PID     int       `json:"pid"`
	APIURL  string    `json:"api_url"` // "http://127.0.0.1:8080": the API is under /api/v1
	Started time.Time `json:"started"`
}

// announceServe writes serveFile for a server listening on addr, and
// returns the func that removes it at shutdown (if it is still ours).
func announceServe(dataDir string, addr net.Addr) (func(), error) {
	info := serveInfo{PID: os.Getpid(), APIURL: localURL(addr), Started: time.Now().UTC()}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, serveFile)
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

// localURL is how a program on this host reaches a listener: its own
// address, or loopback for a wildcard one.
func localURL(addr net.Addr) string {
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

func readServeInfo(dataDir string) (serveInfo, error) {
	var info serveInfo
	b, err := os.ReadFile(filepath.Join(dataDir, serveFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %w", serveFile, err)
	}
	return info, nil
}

// findServer returns the running server named in the data directory's
// serveFile: its process must be alive and its /healthz must answer. A
// file left by a server that died is ignored.
func findServer(ctx context.Context, dataDir string) (serveInfo, bool) {
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

// readToken finds the API token: --token, then $RACKBOOT_TOKEN, then the
// data directory's token file (readable by whoever runs serve).
func readToken(flag, dataDir string) string {
	if flag != "" {
		return flag
	}
	if t := os.Getenv("RACKBOOT_TOKEN"); t != "" {
		return t
	}
	b, _ := os.ReadFile(filepath.Join(dataDir, api.TokenFile))
	return strings.TrimSpace(string(b))
}
