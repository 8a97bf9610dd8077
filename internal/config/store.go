package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Store chooses where rackboot keeps its state: one bbolt file in the data
// dir (the default), or an etcd cluster shared by several rackboot servers.
type Store struct {
	Backend string    `yaml:"backend"` // bolt (default, also when empty) or etcd
	Etcd    StoreEtcd `yaml:"etcd"`
}

// The store backends.
const (
	BackendBolt = "bolt"
	BackendEtcd = "etcd"
)

// StoreEtcd is the etcd client's configuration (store.backend: etcd).
type StoreEtcd struct {
	Endpoints []string `yaml:"endpoints"` // http:// or https:// URLs of the members
	// Prefix is put before every key, so that several sites or labs share
	// one cluster; it ends with "/". Default /rackboot/.
	Prefix string `yaml:"prefix"`
	// Client TLS: ca_file checks the members' certificates, cert_file and
	// key_file (both or neither) are this client's.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
	// Username and Password, when etcd's authentication is on.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DialTimeout bounds connecting to the cluster at start. Default 5s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// RequestTimeout bounds every read and write, so that a write while the
	// cluster has no quorum fails with a clear error instead of waiting.
	// Default 5s.
	RequestTimeout Duration `yaml:"request_timeout"`
}

// DefaultEtcdPrefix is store.etcd.prefix when none is given.
const DefaultEtcdPrefix = "/rackboot/"

// BackendName is the backend in effect: "bolt" when none is set.
func (s *Store) BackendName() string {
	if s.Backend == "" {
		return BackendBolt
	}
	return s.Backend
}

// EtcdPrefix is the key prefix in effect.
func (s *Store) EtcdPrefix() string {
	if s.Etcd.Prefix == "" {
		return DefaultEtcdPrefix
	}
	return s.Etcd.Prefix
}

func (s *Store) validate() error {
	switch s.BackendName() {
	case BackendBolt:
		return nil
	case BackendEtcd:
		return s.Etcd.validate()
	}
	return fmt.Errorf("store.backend: %q (want bolt, the default, or etcd)", s.Backend)
}

func (e *StoreEtcd) validate() error {
	if len(e.Endpoints) == 0 {
		return errors.New("store.etcd.endpoints: backend etcd needs the members' client URLs, e.g. [http://10.0.0.11:2379, http://10.0.0.12:2379, http://10.0.0.13:2379]")
	}
	tls := false
	for i, ep := range e.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("store.etcd.endpoints[%d]: %q: write a client URL like http://10.0.0.11:2379", i, ep)
		}
		tls = tls || u.Scheme == "https"
	}
	if p := e.Prefix; p != "" && (!strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/")) {
		return fmt.Errorf("store.etcd.prefix: %q must start and end with / (e.g. /rackboot/site-a/), so that one site's keys never match another's", p)
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		return errors.New("store.etcd: set cert_file and key_file together (the client certificate and its key)")
	}
	if !tls && (e.CertFile != "" || e.CAFile != "") {
		return errors.New("store.etcd: cert_file/ca_file are set but no endpoint is https://: use https:// endpoints for TLS")
	}
	if (e.Username == "") != (e.Password == "") {
		return errors.New("store.etcd: set username and password together (etcd authentication)")
	}
	for key, d := range map[string]Duration{"dial_timeout": e.DialTimeout, "request_timeout": e.RequestTimeout} {
		if d < 0 || time.Duration(d) > 10*time.Minute {
			return fmt.Errorf("store.etcd.%s: %v (want a duration from 0, the default, to 10m)", key, time.Duration(d))
		}
	}
	return nil
}
