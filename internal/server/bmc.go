package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"rackboot/internal/bmc"
	"rackboot/internal/config"
	"rackboot/internal/machines"
)

// bmcOperator is what power operations go through: each machine's own BMC
// settings in the store, the rules' defaults (passwords read from their
// files now), the configured timeouts, metrics and the boot timeline.
func (s *Server) bmcOperator(cfg config.Config, registry *machines.Registry) (*bmc.Operator, error) {
	rules, err := bmcRules(cfg.Machines.Rules)
	if err != nil {
		return nil, err
	}
	b := cfg.BMC.WithDefaults()
	return &bmc.Operator{
		Registry: registry,
		Creds:    &bmc.Store{Store: s.store},
		Rules:    rules,
		Options:  bmc.DialOptions{Timeout: b.Timeout.Std(), Retries: b.Retries},
		Parallel: b.Parallel,
		OnResult: func(r bmc.Result) { s.timeline.Metrics.PowerOperation(string(r.Action), r.Outcome()) },
		OnPowerOn: func(mac string, at time.Time, a bmc.Action, done string) {
			s.timeline.PoweredOn(mac, at, string(a), done)
		},
		Log: s.log.With("svc", "bmc"),
	}, nil
}

// bmcRules are the rules' BMC defaults, their passwords read from files
// that only their owner may read (as ssh requires of a private key).
func bmcRules(rules []config.MachineRule) ([]bmc.Rule, error) {
	var out []bmc.Rule
	for _, r := range rules {
		if r.BMC == nil {
			continue
		}
		c := bmc.Credentials{User: r.BMC.User, Interface: bmc.Interface(r.BMC.Interface)}
		if f := r.BMC.PasswordFile; f != "" {
			pw, err := ReadSecretFile(f)
			if err != nil {
				return nil, fmt.Errorf("machines.rules %s: bmc.password_file: %w", r.Name, err)
			}
			c.Password = pw
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("machines.rules %s: %w", r.Name, err)
		}
		out = append(out, bmc.Rule{Name: r.Name, MACPrefix: r.MACPrefix, Labels: r.Labels, Defaults: c})
	}
	return out, nil
}

// ReadSecretFile reads a one-line secret (a password), refusing a file
// that group or others may read; the final line break is dropped.
func ReadSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %04o): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// runSilenceWatch marks boots whose OS never showed itself (bmc.os_silent_after).
func (s *Server) runSilenceWatch(ctx context.Context) error {
	if d := s.cfg.BMC.WithDefaults().OSSilentAfter.Std(); d > 0 {
		s.timeline.WatchSilence(ctx, d)
	}
	return nil
}
