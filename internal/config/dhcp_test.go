package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const fullYAML = `
interface: br0
dhcp:
  mode: full
  lease_time: 1h
  ping_check: 300ms
  dns: [10.0.0.1]
  domain: rack.example
  subnets:
    - subnet: 10.0.0.0/24
      pools: [10.0.0.100-10.0.0.199, 10.0.0.224/28]
      router: 10.0.0.1
      mtu: 9000
      renew_time: 20m
      rebind_time: 40m
      options:
        - {code: 150, ips: [10.0.0.5]}
        - {code: 252, text: "http://10.0.0.5/wpad.dat"}
        - {code: 224, hex: "0a:0b"}
        - {code: 23, uint8: 64}
      reservations:
        - {mac: "52:54:00:00:00:01", ip: 10.0.0.10, hostname: cn1}
    - subnet: 10.1.0.0/16
      pools: [10.1.1.0/24]
`

func TestDecodeFullDHCP(t *testing.T) {
	c := Default()
	if err := c.Decode(strings.NewReader(fullYAML)); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := c.DHCP
	if d.Mode != DHCPFull || len(d.Subnets) != 2 || d.PingCheck.Std() != 300*time.Millisecond {
		t.Fatalf("dhcp: %+v", d)
	}
	s := d.Subnets[0]
	if s.Router != "10.0.0.1" || s.MTU != 9000 || len(s.Options) != 4 || s.Reservations[0].Hostname != "cn1" {
		t.Errorf("subnet: %+v", s)
	}
	for i, want := range [][]byte{{10, 0, 0, 5}, []byte("http://10.0.0.5/wpad.dat"), {10, 11}, {64}} {
		if b, err := s.Options[i].Bytes(); err != nil || !bytes.Equal(b, want) {
			t.Errorf("option %d: %v %v, want %v", s.Options[i].Code, b, err, want)
		}
	}
	first, last, err := ParsePool(s.Pools[1])
	if err != nil || first.String() != "10.0.0.225" || last.String() != "10.0.0.238" {
		t.Errorf("CIDR pool: %v-%v %v", first, last, err)
	}
}

func TestFullDHCPErrorsNameTheKey(t *testing.T) {
	sub := func(s string) string {
		return "dhcp:\n  mode: full\n  subnets:\n    - " + s + "\n"
	}
	for _, tc := range []struct{ yaml, want string }{
		{"dhcp: {mode: full}", "dhcp.subnets: full mode needs"},
		{sub("{subnet: 10.0.0.1/24, pools: [10.0.0.2-10.0.0.9]}"), "dhcp.subnets[0].subnet: \"10.0.0.1/24\" has host bits set (did you mean 10.0.0.0/24?)"},
		{sub("{subnet: 10.0.0.0/24}"), "dhcp.subnets[0].pools: the subnet has neither"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.1.2-10.0.1.9]}"), "dhcp.subnets[0].pools[0]"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.9-10.0.0.2]}"), "ends before it starts"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.2-10.0.0.9, 10.0.0.5-10.0.0.20]}"), "dhcp.subnets[0].pools[1]: \"10.0.0.5-10.0.0.20\" overlaps dhcp.subnets[0].pools[0]"},
		{sub("{subnet: 10.0.0.0/24, pools: [x]}"), "dhcp.subnets[0].pools[0]"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], router: 10.9.0.1}"), "dhcp.subnets[0].router"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], mtu: 20}"), "dhcp.subnets[0].mtu"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], lease_time: 10s}"), "dhcp.subnets[0].lease_time"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], lease_time: 1h, renew_time: 2h}"), "dhcp.subnets[0].renew_time"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], renew_time: 5h, rebind_time: 4h}"), "must be shorter than rebind_time"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], dns: [a.b]}"), "dhcp.subnets[0].dns[0]"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], domain: 'a b'}"), "dhcp.subnets[0].domain"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], options: [{code: 53, uint8: 1}]}"), "dhcp.subnets[0].options[0]: code: option 53 is the message type"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], options: [{code: 300, text: x}]}"), "not a DHCP option code"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], options: [{code: 100}]}"), "has no value"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], options: [{code: 100, text: a, uint8: 1}]}"), "several values (text, uint8)"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], options: [{code: 100, hex: zz}]}"), "hex"},
		{sub("{subnet: 10.0.0.0/24, pools: [10.0.0.0/25], options: [{code: 100, uint8: 300}]}"), "300"},
		{sub("{subnet: 10.0.0.0/24, reservations: [{mac: nope, ip: 10.0.0.5}]}"), "dhcp.subnets[0].reservations[0].mac"},
		{sub("{subnet: 10.0.0.0/24, reservations: [{mac: '52:54:00:00:00:01', ip: 10.0.1.5}]}"), "dhcp.subnets[0].reservations[0].ip"},
		{sub("{subnet: 10.0.0.0/24, reservations: [{mac: '52:54:00:00:00:01', ip: 10.0.0.255}]}"), "broadcast"},
		{sub("{subnet: 10.0.0.0/24, reservations: [{mac: '52:54:00:00:00:01', ip: 10.0.0.5}, {mac: '52:54:00:00:00:02', ip: 10.0.0.5}]}"), "reservations[1].ip: 10.0.0.5 is also reserved"},
		{sub("{subnet: 10.0.0.0/24, reservations: [{mac: '52:54:00:00:00:01', ip: 10.0.0.5}, {mac: '52:54:00:00:00:01', ip: 10.0.0.6}]}"), "reservations[1].mac"},
		{sub("{subnet: 10.0.0.0/24, reservations: [{mac: '52:54:00:00:00:01', ip: 10.0.0.5, hostname: 'a_b'}]}"), "reservations[0].hostname"},
		{"dhcp:\n  mode: full\n  subnets:\n    - {subnet: 10.0.0.0/16, pools: [10.0.1.0/24]}\n    - {subnet: 10.0.5.0/24, pools: [10.0.5.0/25]}\n", "dhcp.subnets[1].subnet: 10.0.5.0/24 overlaps dhcp.subnets[0]"},
		{"dhcp: {mode: full, ping_check: 1m, subnets: [{subnet: 10.0.0.0/24, pools: [10.0.0.0/25]}]}", "dhcp.ping_check"},
		{"dhcp: {mode: full, dns: [x], subnets: [{subnet: 10.0.0.0/24, pools: [10.0.0.0/25]}]}", "dhcp.dns[0]"},
		{"dhcp: {mode: full, subnets: [{subnet: 10.0.0.0/24, pool: [10.0.0.0/25]}]}", "unknown key pool"},
	} {
		c := Default()
		err := c.Decode(strings.NewReader(tc.yaml))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\ngot  %v\nwant an error containing %q", tc.yaml, err, tc.want)
		}
	}
}

// Proxy and off modes ignore the full-mode keys, so that switching modes
// is one line.
func TestFullKeysIgnoredInProxyMode(t *testing.T) {
	c := Default()
	if err := c.Decode(strings.NewReader("dhcp: {mode: proxy, subnets: [{subnet: bad}]}")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("proxy mode checked full-mode keys: %v", err)
	}
}
