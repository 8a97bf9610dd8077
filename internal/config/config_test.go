package config

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeFull(t *testing.T) {
	c := Default()
	err := c.Decode(strings.NewReader(`
interface: br0
data_dir: /srv/boot
http_addr: 10.0.0.1:8080
dhcp: {mode: "off"}
menu:
  title: Rack 4
  timeout: 5s
  default: smartos-noimport
smartos:
  console: ttyb
  root_password: secret
  boot_args:
    hostname: cn1
    admin_nic: "00:11:22:33:44:55"
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Interface != "br0" || c.DataDir != "/srv/boot" || c.DHCP.Mode != DHCPOff {
		t.Errorf("top level: %+v", c)
	}
	if time.Duration(c.Menu.Timeout) != 5*time.Second || c.Menu.Title != "Rack 4" {
		t.Errorf("menu: %+v", c.Menu)
	}
	want := BootArgs{{Key: "hostname", Value: "cn1"}, {Key: "admin_nic", Value: "00:11:22:33:44:55"}}
	if len(c.SmartOS.BootArgs) != 2 || c.SmartOS.BootArgs[0] != want[0] || c.SmartOS.BootArgs[1] != want[1] {
		t.Errorf("boot_args order lost: %v", c.SmartOS.BootArgs)
	}
	if c.TFTPAddr != ":69" || c.SmartOS.RootShadow != "" {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"menu: {timout: 3s}", "timout"},
		{"menu: {timeout: soon}", "not a duration"},
		{"smartos: {console: serial}", "smartos.console"},
		{"dhcp: {mode: relay}", "dhcp.mode"},
		{"advertise: 10.0.0.300", "advertise"},
		{"http_addr: localhost", "http_addr"},
		{"smartos: {root_shadow: 'plain'}", "smartos.root_shadow"},
		{"smartos: {root_shadow: '$5$abc$def', root_password: x}", "not both"},
		{"smartos: {boot_args: {'host name': x}}", "smartos.boot_args"},
		{"smartos: {boot_args: [a, b]}", "boot_args must be a mapping"},
		{"menu: {default: 'two words'}", "menu.default"},
		{"unknown_top: 1", "unknown_top"},
	} {
		c := Default()
		err := c.Decode(strings.NewReader(tc.yaml))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", tc.yaml, err, tc.want)
		}
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
