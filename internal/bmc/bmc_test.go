package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"rackboot/internal/bmc/ipmisim"
	"rackboot/internal/machines"
	"rackboot/internal/store/boltstore"
)

const secret = "s3cr3t-Pw!"

func TestCredentialsNeverShowThePassword(t *testing.T) {
	c := Credentials{Address: "10.0.0.5", User: "admin", Password: secret}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "bmc", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("y", "bmc", c)
	for _, s := range []string{buf.String(), c.String(), fmt.Sprint(c), fmt.Sprintf("%v %s", c, c)} {
		if strings.Contains(s, secret) {
			t.Errorf("password shown: %s", s)
		}
	}
	if !strings.Contains(buf.String(), `"password_set":true`) {
		t.Errorf("log does not say a password is set: %s", buf.String())
	}
	if i := c.Info(); !i.PasswordSet || i.Interface != Lanplus {
		t.Errorf("Info = %+v", i)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Credentials
		want string
	}{
		{Credentials{Address: "10.0.0.5"}, ""},
		{Credentials{Address: "bmc7.rack:6230", User: "admin"}, ""},
		{Credentials{Address: "[fd00::5]:623"}, ""},
		{Credentials{Address: "10.0.0.5:99999"}, "port"},
		{Credentials{Address: "user@host"}, "host name"},
		{Credentials{User: "a-very-long-user-name"}, "at most 16"},
		{Credentials{Password: "012345678901234567890"}, "at most 20"},
		{Credentials{Password: "a\nb"}, "line breaks"},
		{Credentials{Interface: Redfish}, "not supported yet"},
		{Credentials{Interface: "lan"}, "lanplus"},
	} {
		err := tc.c.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%v) = %v, want %q", tc.c, err, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	rules := []Rule{
		{Name: "all", Defaults: Credentials{User: "ADMIN", Password: "p1"}},
		{Name: "dell", Labels: map[string]string{"vendor": "dell"}, Defaults: Credentials{User: "root", Password: "calvin"}},
		{Name: "other", MACPrefix: "00:11", Defaults: Credentials{User: "x"}},
	}
	m := machines.Machine{MAC: "52:54:00:00:00:01", Labels: map[string]string{"vendor": "dell"}}
	c, names := Resolve(m, Credentials{Address: "10.0.0.9", Password: "own"}, rules)
	if c.User != "root" || c.Password != "own" || c.Address != "10.0.0.9" || strings.Join(names, ",") != "all,dell" {
		t.Errorf("Resolve = %v %v", c, names)
	}
}

func TestStore(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &Store{Store: st}
	ctx := context.Background()
	mac := "52:54:00:00:00:01"
	if _, ok, err := s.Get(ctx, mac); ok || err != nil {
		t.Fatalf("Get of nothing: %v %v", ok, err)
	}
	addr, user, pw := "10.0.0.5", "admin", secret
	if _, err := s.Update(ctx, mac, Patch{Address: &addr, User: &user, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	empty := ""
	c, err := s.Update(ctx, mac, Patch{User: &empty})
	if err != nil || c.User != "" || c.Password != secret || c.Address != addr {
		t.Fatalf("Update: %v %v", c, err)
	}
	bad := "x@y"
	if _, err := s.Update(ctx, mac, Patch{Address: &bad}); KindOf(err) != KindConfig {
		t.Errorf("bad address: %v", err)
	}
	if err := s.Delete(ctx, mac); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, mac); ok {
		t.Error("still there after Delete")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Kind
	}{
		{errors.New("connect20 failed after try all cipher suite ids ([17 3]), errs: \ncmd: rakp1 failed: RAKP2 authentication code mismatch: RAKP authentication failed"), KindAuth},
		{errors.New("validate rakp2 message failed, err: RMCP+ status 0x0d: Unauthorized name"), KindAuth},
		{errors.New("IPMI LAN: UDP exchange error after 2 attempt(s): read: connection refused"), KindNoAnswer},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), KindNoAnswer},
		{errors.New("something else"), KindFailed},
	} {
		err := classify("op", tc.err)
		if KindOf(err) != tc.want {
			t.Errorf("classify(%q) = %s, want %s", tc.err, KindOf(err), tc.want)
		}
		if tc.want == KindAuth && strings.Contains(err.Error(), "\n") {
			t.Errorf("auth error spans lines: %q", err)
		}
	}
}

func TestOperatorNoAddress(t *testing.T) {
	o := newOperator(t, nil)
	r := o.Power(context.Background(), "52:54:00:00:00:02", Status)
	if r.Kind != KindConfig || !strings.Contains(r.Error, "bmc set") {
		t.Errorf("no address: %+v", r)
	}
}

// newOperator is an Operator on a fresh bolt store with these credentials
// per MAC.
func newOperator(t *testing.T, creds map[string]Credentials) *Operator {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Store{Store: st}
	for mac, c := range creds {
		p := Patch{Address: &c.Address, User: &c.User, Password: &c.Password}
		if _, err := s.Update(context.Background(), mac, p); err != nil {
			t.Fatal(err)
		}
	}
	return &Operator{Registry: &machines.Registry{Store: st}, Creds: s}
}

// requireSim skips (or fails, with ipmisim.RequiredEnv set) without ipmi_sim.
func requireSim(t *testing.T) {
	t.Helper()
	if err := ipmisim.Available(); err != nil {
		if ipmisimRequired() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}
