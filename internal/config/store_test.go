package config

import (
	"strings"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil || c.Store.BackendName() != BackendBolt {
		t.Fatalf("default store: backend %q, %v; want bolt", c.Store.BackendName(), err)
	}
	err := c.Decode(strings.NewReader(`
store:
  backend: etcd
  etcd:
    endpoints: [https://10.0.0.11:2379, https://10.0.0.12:2379]
    prefix: /rackboot/lab/
    cert_file: /etc/rackboot/etcd.crt
    key_file: /etc/rackboot/etcd.key
    ca_file: /etc/rackboot/ca.crt
    username: rackboot
    password: secret
    dial_timeout: 3s
    request_timeout: 10s
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	e := c.Store.Etcd
	if c.Store.BackendName() != BackendEtcd || len(e.Endpoints) != 2 || c.Store.EtcdPrefix() != "/rackboot/lab/" ||
		e.CAFile != "/etc/rackboot/ca.crt" || e.Username != "rackboot" || time.Duration(e.DialTimeout) != 3*time.Second ||
		time.Duration(e.RequestTimeout) != 10*time.Second {
		t.Errorf("decoded %+v", c.Store)
	}
	if p := (&Store{}).EtcdPrefix(); p != DefaultEtcdPrefix {
		t.Errorf("default prefix %q", p)
	}
	for yaml, want := range map[string]string{
		"store: {backend: sql}":  "store.backend",
		"store: {backend: etcd}": "store.etcd.endpoints: backend etcd needs",
		"store: {backend: etcd, etcd: {endpoints: ['10.0.0.1:2379']}}":                 "store.etcd.endpoints[0]",
		"store: {backend: etcd, etcd: {endpoints: ['http://10.0.0.1']}}":               "store.etcd.endpoints[0]",
		"store: {backend: etcd, etcd: {endpoints: ['http://a:1'], prefix: /x}}":        "must start and end with /",
		"store: {backend: etcd, etcd: {endpoints: ['http://a:1'], prefix: 'x/'}}":      "must start and end with /",
		"store: {backend: etcd, etcd: {endpoints: ['https://a:1'], cert_file: c}}":     "cert_file and key_file together",
		"store: {backend: etcd, etcd: {endpoints: ['http://a:1'], ca_file: c}}":        "no endpoint is https://",
		"store: {backend: etcd, etcd: {endpoints: ['http://a:1'], username: u}}":       "username and password together",
		"store: {backend: etcd, etcd: {endpoints: ['http://a:1'], dial_timeout: -1s}}": "store.etcd.dial_timeout",
		"store: {backend: etcd, etcd: {endpoints: ['http://a:1'], port: 1}}":           "unknown key port",
	} {
		c := Default()
		err := c.Decode(strings.NewReader(yaml))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", yaml, err, want)
		}
	}
}
