package config

import (
	"strings"
	"testing"
	"time"
)

func TestBMCConfig(t *testing.T) {
	c := Default()
	err := c.Decode(strings.NewReader(`
bmc:
  timeout: 1s
  parallel: 4
  os_silent_after: 20m
machines:
  rules:
    - name: rack7
      labels: {rack: "7"}
      bmc: {user: ADMIN, password_file: /etc/rackboot/rack7.pass}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b := c.BMC.WithDefaults()
	if b.Timeout.Std() != time.Second || b.Retries != 2 || b.Parallel != 4 || b.OSSilentAfter.Std() != 20*time.Minute {
		t.Errorf("bmc = %+v", b)
	}
	if r := c.Machines.Rules[0].BMC; r == nil || r.User != "ADMIN" || r.PasswordFile != "/etc/rackboot/rack7.pass" {
		t.Errorf("rule bmc = %+v", r)
	}
	for yaml, want := range map[string]string{
		"bmc: {parallel: -1}": "negative",
		"machines: {rules: [{name: x, bmc: {interface: redfish}}]}":          "lanplus",
		"machines: {rules: [{name: x, bmc: {user: a-very-long-user-name}}]}": "16 bytes",
		"machines: {rules: [{name: x, bmc: {password: secret}}]}":            "password",
	} {
		c := Default()
		err := c.Decode(strings.NewReader(yaml))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error about %q", yaml, err, want)
		}
	}
}
