package storm

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestConfigChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no interface", Config{Machines: 1}, "name the interface"},
		{"no machines", Config{Interface: "eth0"}, "at least one machine"},
		{"UEFI share", Config{Interface: "eth0", Machines: 1, UEFI: 1.5}, "want 0 to 1"},
		{"scale", Config{Interface: "eth0", Machines: 1, Scale: -1}, "want more than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Interface: "eth0", Machines: 3, Scale: 0.5}
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	if c.TFTP.Timeout != 2*time.Second || c.TFTP.BlockSize != 1468 || !c.TFTP.SizeProbe {
		t.Errorf("TFTP %+v: want EDK2's, timeout scaled to 2s", c.TFTP)
	}
	if got := scaleAll(c.ROMSchedule, c.Scale); got[0] != 2*time.Second || got[3] != 16*time.Second {
		t.Errorf("ROM schedule scaled: %v", got)
	}
	if c.Addrs != AddrsAdd || c.ProxyRequest != ProxyRequestAuto || c.MACPrefix != DefaultMACPrefix {
		t.Errorf("defaults: %+v", c)
	}
}
