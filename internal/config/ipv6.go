package config

import "fmt"

// Router advertisement modes (ipv6.ra).
const (
	RAAuto = "auto" // answer booting machines' router solicitations while no real router advertises
	RAOff  = "off"  // never send router advertisements
)

// IPv6 is what rackboot does on IPv6 (DESIGN.md, "Router advertisements
// that configure nothing").
type IPv6 struct {
	// RA: auto (the default; "" means auto) answers the router
	// solicitations of network-booting machines with an advertisement that
	// configures nothing, so that iPXE stops waiting for a router; off
	// sends none.
	RA string `yaml:"ra"`
}

// RAEnabled reports whether router advertisements may be sent.
func (v IPv6) RAEnabled() bool { return v.RA != RAOff }

func (v IPv6) validate() error {
	switch v.RA {
	case "", RAAuto, RAOff:
		return nil
	}
	return fmt.Errorf("ipv6.ra: %q (want auto or off)", v.RA)
}
