package config

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Server is this server's identity among the servers that share one store
// (store.backend: etcd): its name in `rackboot servers`, in the platform
// status records and on the dashboard.
type Server struct {
	// Name is unique among the servers of one store. Default: the host
	// name (flag --name).
	Name string `yaml:"name"`
}

// NameOrHost is the server's name in effect: server.name, else the host
// name, else "rackboot".
func (s Server) NameOrHost() string {
	if s.Name != "" {
		return s.Name
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "rackboot"
}

func (s Server) validate() error {
	n := s.Name
	if n == "" {
		return nil
	}
	if len(n) > 128 || !utf8.ValidString(n) || strings.ContainsAny(n, "/\x00") || strings.TrimSpace(n) != n ||
		n == "." || n == ".." {
		return fmt.Errorf("server.name: %q: use letters, digits, dots and dashes (at most 128 bytes, no slash)", n)
	}
	return nil
}
