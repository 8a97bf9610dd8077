package privilege

import (
	"strings"
	"testing"
)

// Each OS's advice names the way to drop root there.
func TestAdvice(t *testing.T) {
	for goos, want := range map[string][]string{
		"linux":   {CapBindService, CapRaw, "setpriv", "--ambient-caps=+net_bind_service,+net_raw"},
		"illumos": {"net_privaddr", "net_icmpaccess", "SMF"},
		"freebsd": {"mac_portacl", "ipv6.ra: off", "rackboot_user"},
		"plan9":   {"67, 69, 80 and 4011"},
	} {
		got := advice(goos)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s advice lacks %q: %s", goos, w, got)
			}
		}
	}
}
