package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/config"
)

// TestBMCRules: a rule's BMC password comes from a file only its owner may
// read, without its final newline; a file others may read is refused.
func TestBMCRules(t *testing.T) {
	dir := t.TempDir()
	ok, open := filepath.Join(dir, "rack7.pass"), filepath.Join(dir, "open.pass")
	os.WriteFile(ok, []byte("calvin\n"), 0o600)
	os.WriteFile(open, []byte("calvin\n"), 0o644)
	rules, err := bmcRules([]config.MachineRule{
		{Name: "none"},
		{Name: "rack7", Labels: map[string]string{"rack": "7"}, BMC: &config.RuleBMC{User: "root", PasswordFile: ok}},
	})
	if err != nil || len(rules) != 1 || rules[0].Defaults.Password != "calvin" || rules[0].Defaults.User != "root" || rules[0].Labels["rack"] != "7" {
		t.Fatalf("bmcRules = %+v, %v", rules, err)
	}
	_, err = bmcRules([]config.MachineRule{{Name: "rack8", BMC: &config.RuleBMC{PasswordFile: open}}})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a password file others may read: %v", err)
	}
}
