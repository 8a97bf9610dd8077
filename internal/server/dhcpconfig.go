package server

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/dhcp4"
	"rackboot/internal/lease"
)

// fullDHCPConfig turns the dhcp: section, which Validate has parsed, into
// what the lease manager and the full DHCP server take. exclude lists
// addresses never to lease (ours).
func fullDHCPConfig(d config.DHCP, exclude []netip.Addr, log *slog.Logger) (lease.Config, []dhcp.Network, error) {
	lc := lease.Config{Exclude: exclude, DeclineHold: d.DeclineHold.Std(), Logger: log,
		CacheThreshold: config.DefaultCacheThreshold}
	if d.CacheThreshold != nil {
		lc.CacheThreshold = *d.CacheThreshold
	}
	var nets []dhcp.Network
	for i, s := range d.Subnets {
		lc.Subnets = append(lc.Subnets, leaseSubnet(s, d.LeaseTime.Std()))
		n := dhcp.Network{Prefix: s.Prefix, MTU: s.MTU, T1: s.RenewTime.Std(), T2: s.RebindTime.Std(),
			DNS: firstList(s.DNSAddrs, d.DNSAddrs), NTP: firstList(s.NTPAddrs, d.NTPAddrs), Domain: s.Domain,
			Router: s.RouterAddr, Extra: dhcp4.Options{}}
		if n.Domain == "" {
			n.Domain = d.Domain
		}
		if n.Router.IsValid() {
			lc.Exclude = append(lc.Exclude, n.Router)
		}
		// dhcp.options first, then the subnet's: a subnet's option wins.
		for _, o := range append(append([]config.Option{}, d.Options...), s.Options...) {
			b, err := o.Bytes()
			if err != nil {
				return lc, nil, fmt.Errorf("dhcp.subnets[%d].options: %w", i, err) // Validate ran: cannot happen
			}
			n.Extra[uint8(o.Code)] = b
		}
		nets = append(nets, n)
	}
	return lc, nets, nil
}

// leaseSubnet is one subnet as the lease manager takes it; its lease time
// falls back to dhcp.lease_time, then to the default.
func leaseSubnet(s config.Subnet, defLease time.Duration) lease.Subnet {
	ls := lease.Subnet{Prefix: s.Prefix, LeaseTime: s.LeaseTime.Std()}
	if ls.LeaseTime == 0 {
		ls.LeaseTime = defLease
	}
	if ls.LeaseTime == 0 {
		ls.LeaseTime = config.DefaultLeaseTime
	}
	for _, r := range s.Ranges {
		ls.Pools = append(ls.Pools, lease.Range{First: r.First, Last: r.Last})
	}
	for _, r := range s.Reservations {
		ls.Reservations = append(ls.Reservations, lease.Reservation{MAC: r.HW, IP: r.Addr, Hostname: r.Hostname})
	}
	return ls
}

func firstList(lists ...[]netip.Addr) []netip.Addr {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}
