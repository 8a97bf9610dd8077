package config

import (
	"strings"
	"testing"
)

func TestIPv6RA(t *testing.T) {
	c := Default()
	if c.IPv6.RA != RAAuto || !c.IPv6.RAEnabled() {
		t.Errorf("default ipv6.ra = %q, want auto", c.IPv6.RA)
	}
	for in, want := range map[string]bool{"ipv6: {ra: off}": false, "ipv6: {ra: auto}": true} {
		c := Default()
		if err := c.Decode(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if c.IPv6.RAEnabled() != want {
			t.Errorf("%s: enabled = %v", in, !want)
		}
	}
	c = Default()
	c.IPv6.RA = "on"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ipv6.ra") {
		t.Errorf("ipv6.ra: on: err = %v, want one naming ipv6.ra", err)
	}
	if !strings.Contains(Reference, "ipv6:") || !strings.Contains(Reference, "ra: auto") {
		t.Error("Reference lacks ipv6.ra")
	}
}
