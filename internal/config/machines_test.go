package config

import (
	"strings"
	"testing"
)

func TestMachineRules(t *testing.T) {
	c := Default()
	err := c.Decode(strings.NewReader(`
api:
  open_reads: false
machines:
  rules:
    - name: qemu
      mac_prefix: "52:54:00"
      labels: {rack: "7"}
      default: smartos-noimport
      boot_args: {hostname: cn, admin_nic: "52:54:00:00:00:01"}
      root_password: secret
      skip_menu: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r := c.Machines.Rules[0]
	if c.API.OpenReads || r.Name != "qemu" || r.Labels["rack"] != "7" || r.SkipMenu == nil || !*r.SkipMenu ||
		len(r.BootArgs) != 2 || r.BootArgs[1].Value != "52:54:00:00:00:01" {
		t.Errorf("decoded %+v", c)
	}
	if !Default().API.OpenReads {
		t.Error("reads should be open by default")
	}
	for yaml, want := range map[string]string{
		"machines: {rules: [{mac_prefix: '52'}]}":                          "machines.rules[0].name",
		"machines: {rules: [{name: a}, {name: a}]}":                        "used twice",
		"machines: {rules: [{name: a, mac_prefix: 'zz'}]}":                 "machines.rules[0].mac_prefix",
		"machines: {rules: [{name: a, default: 'a b'}]}":                   "machines.rules[0].default",
		"machines: {rules: [{name: a, root_shadow: x}]}":                   "machines.rules[0].root_shadow",
		"machines: {rules: [{name: a, root_shadow: x, root_password: y}]}": "not both",
		"machines: {rules: [{name: a, boot_args: {'1x': y}}]}":             "machines.rules[0].boot_args",
		"machines: {rules: [{name: a, colour: red}]}":                      "unknown key colour",
	} {
		c := Default()
		err := c.Decode(strings.NewReader(yaml))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", yaml, err, want)
		}
	}
}
