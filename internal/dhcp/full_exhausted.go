package dhcp

import (
	"net/netip"
	"sync"
	"time"
)

// exhaustedEvery is how often at most the "pool exhausted" warning is
// logged per subnet. A DISCOVER flood against a full pool (the classic
// starvation attack) would otherwise write one line per DISCOVER: thousands
// a second, when the operator needs one line and a count. The count of
// every refusal is in /metrics too (rackboot_dhcp_pool_exhausted_total).
const exhaustedEvery = 10 * time.Second

// exhaustion is the state of that warning, per subnet.
type exhaustion struct {
	mu      sync.Mutex
	subnets map[netip.Prefix]*exhaustedSubnet
}

type exhaustedSubnet struct {
	warned  time.Time // when the last warning was logged
	refused uint64    // DISCOVERs refused since then, logged or not
}

// poolExhausted counts a DISCOVER that got no offer because sub's pools
// were full, and logs a warning when the last one for sub is
// exhaustedEvery old, with the count since.
func (s *FullServer) poolExhausted(sub netip.Prefix, mac string, now time.Time) {
	e := &s.exhausted
	e.mu.Lock()
	if e.subnets == nil {
		e.subnets = map[netip.Prefix]*exhaustedSubnet{}
	}
	st := e.subnets[sub]
	if st == nil {
		st = &exhaustedSubnet{}
		e.subnets[sub] = st
	}
	st.refused++
	refused := st.refused
	warn := st.warned.IsZero() || now.Sub(st.warned) >= exhaustedEvery
	if warn {
		st.warned, st.refused = now, 0
	}
	e.mu.Unlock()
	if warn {
		s.logger().Warn("DHCP pool exhausted: no address to offer (a DISCOVER flood, or a pool too small)",
			"subnet", sub, "refused", refused, "last_mac", mac, "next_warning_in", exhaustedEvery)
	}
}
