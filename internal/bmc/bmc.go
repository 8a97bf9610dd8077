// Package bmc drives machines' baseboard management controllers: power
// status, on, off, cycle and reset, and the device the next boot starts
// from. A Controller is one session with one BMC; Dial picks the protocol
// from the credentials' Interface (IPMI v2.0 "lanplus" today, through
// github.com/bougou/go-ipmi; Redfish would be another Dial case). The
// credentials live in the store beside the machine registry (Store) and
// never leave rackboot: Credentials print and log without the password,
// and what the API shows is Info.
package bmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// Interface is how rackboot speaks to a BMC.
type Interface string

const (
	// Lanplus is IPMI v2.0 over RMCP+ (UDP 623), what `ipmitool -I
	// lanplus` speaks; every server BMC of the last fifteen years has it.
	Lanplus Interface = "lanplus"
	// Redfish is the DMTF's HTTPS API, named so that a setting for it is
	// refused with a clear message rather than read as IPMI.
	Redfish Interface = "redfish"
)

// DefaultPort is IPMI's RMCP port (IPMI v2.0 §13.1.1).
const DefaultPort = 623

// Limits of IPMI v2.0 user names and passwords (§22.26 Set User Name: 16
// bytes; §22.30 Set User Password: 20 bytes for v2.0).
const (
	MaxUser     = 16
	MaxPassword = 20
)

// Credentials say how to reach one BMC. Password is a secret: String and
// LogValue leave it out, and the API shows Info instead.
type Credentials struct {
	Address   string    `json:"address,omitempty"` // host or host:port (port 623 by default)
	User      string    `json:"user,omitempty"`
	Password  string    `json:"password,omitempty"`
	Interface Interface `json:"interface,omitempty"` // "" is Lanplus
}

// String is the credentials without the password.
func (c Credentials) String() string {
	pw := "no password"
	if c.Password != "" {
		pw = "password set"
	}
	return fmt.Sprintf("%s %s@%s (%s)", c.interfaceName(), c.User, c.Address, pw)
}

// LogValue implements slog.LogValuer: the password never reaches a log.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", c.Address), slog.String("user", c.User),
		slog.String("interface", string(c.interfaceName())), slog.Bool("password_set", c.Password != ""))
}

func (c Credentials) interfaceName() Interface {
	if c.Interface == "" {
		return Lanplus
	}
	return c.Interface
}

// HostPort is the address to dial, with the default port when none is given.
func (c Credentials) HostPort() (host string, port int, err error) {
	a := strings.TrimSpace(c.Address)
	if a == "" {
		return "", 0, errors.New("no BMC address: set one with rackboot machines bmc set MAC --address")
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		// No port (or a bare IPv6 address).
		return strings.Trim(a, "[]"), DefaultPort, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("BMC address %q: the port must be 1-65535", c.Address)
	}
	return h, n, nil
}

// Validate checks the shape of what is set (a partial set is fine: rules
// may give the rest).
func (c Credentials) Validate() error {
	if c.Address != "" {
		h, _, err := c.HostPort()
		if err != nil {
			return err
		}
		if h == "" || strings.ContainsAny(h, " /\\@") {
			return fmt.Errorf("BMC address %q: write a host name or IP address, optionally with :port", c.Address)
		}
	}
	if len(c.User) > MaxUser {
		return fmt.Errorf("BMC user %q: IPMI user names are at most %d bytes", c.User, MaxUser)
	}
	if len(c.Password) > MaxPassword {
		return fmt.Errorf("BMC password: IPMI v2.0 passwords are at most %d bytes", MaxPassword)
	}
	if strings.ContainsAny(c.Password, "\r\n") {
		return errors.New("BMC password: no line breaks (a password file's final newline is removed)")
	}
	switch c.Interface {
	case "", Lanplus:
	case Redfish:
		return errors.New("BMC interface redfish is not supported yet: use lanplus (IPMI v2.0)")
	default:
		return fmt.Errorf("BMC interface %q: rackboot speaks lanplus (IPMI v2.0)", c.Interface)
	}
	return nil
}

// Info is what may be shown of credentials: never the password.
type Info struct {
	Address     string    `json:"address,omitempty"`
	User        string    `json:"user,omitempty"`
	Interface   Interface `json:"interface,omitempty"`
	PasswordSet bool      `json:"password_set"`
	// Rules names the machines.rules whose bmc defaults filled in a field.
	Rules []string `json:"rules,omitempty"`
}

// Info returns what may be shown of c.
func (c Credentials) Info() Info {
	return Info{Address: c.Address, User: c.User, Interface: c.interfaceName(), PasswordSet: c.Password != ""}
}

// Action is a power operation.
type Action string

const (
	Status Action = "status" // read the power state only
	On     Action = "on"
	Off    Action = "off"   // hard power off (IPMI chassis control "power down")
	Cycle  Action = "cycle" // off, then on; a machine that is off is powered on
	Reset  Action = "reset" // hard reset; refused for a machine that is off
)

// Actions lists the power actions in the order help texts show them.
var Actions = []Action{Status, On, Off, Cycle, Reset}

// ParseAction reads a power action.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("power action %q: want status, on, off, cycle or reset", s)
}

// Power is a machine's power state.
type Power string

const (
	PowerOn  Power = "on"
	PowerOff Power = "off"
)

// BootDevice is the device of the next boot, as IPMI's boot flags say it
// (Get/Set System Boot Options, parameter 5).
type BootDevice struct {
	PXE bool // force PXE (the only device rackboot asks for)
	EFI bool // the BIOS boot type bit: UEFI rather than legacy
	// Persistent applies to every boot, not only the next one.
	Persistent bool
}

// Controller is one session with one BMC. Its methods may be called one
// at a time; Close ends the session.
type Controller interface {
	PowerState(ctx context.Context) (Power, error)
	// Power runs On, Off, Cycle or Reset as the BMC's own command.
	Power(ctx context.Context, a Action) error
	SetBootDevice(ctx context.Context, d BootDevice) error
	Close(ctx context.Context) error
}

// Dial opens a session with the BMC c names, with each exchange bounded
// by timeout (and retried retries times before "no answer").
func Dial(ctx context.Context, c Credentials, o DialOptions) (Controller, error) {
	if err := c.Validate(); err != nil {
		return nil, &Error{Kind: KindConfig, Err: err}
	}
	switch c.interfaceName() {
	case Lanplus:
		return dialIPMI(ctx, c, o)
	}
	return nil, &Error{Kind: KindUnsupported, Err: fmt.Errorf("BMC interface %q", c.Interface)}
}
