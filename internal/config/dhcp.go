package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// DHCPFull makes rackboot the network's DHCP server: it leases addresses
// from dhcp.subnets and boots network-boot clients as in proxy mode.
const DHCPFull = "full"

// DHCP configures the DHCP side. Everything but Mode is for full mode.
type DHCP struct {
	Mode string `yaml:"mode"`

	LeaseTime      Duration `yaml:"lease_time"`      // default for subnets (default 12h)
	DeclineHold    Duration `yaml:"decline_hold"`    // quarantine of a declined address (default 24h)
	PingCheck      Duration `yaml:"ping_check"`      // ping a new address before offering it, waiting this long; 0: no ping
	RogueDetection *bool    `yaml:"rogue_detection"` // warn when another DHCP server answers on our link (default true)
	// CacheThreshold answers renewals from the lease as it is while it is
	// younger than this fraction of its time (default 0.25; 0: write every
	// renewal). See lease.Config.CacheThreshold.
	CacheThreshold *float64 `yaml:"cache_threshold"`
	DNS            []string `yaml:"dns"` // defaults for subnets
	Domain         string   `yaml:"domain"`
	NTP            []string `yaml:"ntp"`
	Options        []Option `yaml:"options"`
	Subnets        []Subnet `yaml:"subnets"`

	// Filled by Validate: DNS and NTP parsed, once.
	DNSAddrs, NTPAddrs []netip.Addr `yaml:"-"`
}

// Subnet is one network rackboot leases addresses in: the boot network
// itself, or a network behind a DHCP relay (its giaddr falls in it).
type Subnet struct {
	Subnet       string        `yaml:"subnet"` // 10.0.0.0/24
	Pools        []string      `yaml:"pools"`  // "10.0.0.100-10.0.0.199" or "10.0.0.128/25"
	Router       string        `yaml:"router"`
	DNS          []string      `yaml:"dns"`
	Domain       string        `yaml:"domain"`
	NTP          []string      `yaml:"ntp"`
	MTU          int           `yaml:"mtu"`
	LeaseTime    Duration      `yaml:"lease_time"`
	RenewTime    Duration      `yaml:"renew_time"`  // T1, option 58 (default: half the lease)
	RebindTime   Duration      `yaml:"rebind_time"` // T2, option 59 (default: 7/8 of the lease)
	Options      []Option      `yaml:"options"`
	Reservations []Reservation `yaml:"reservations"`

	// Filled by Validate: the values above parsed, once.
	Prefix             netip.Prefix `yaml:"-"`
	Ranges             []Range      `yaml:"-"` // Pools
	RouterAddr         netip.Addr   `yaml:"-"` // invalid: none
	DNSAddrs, NTPAddrs []netip.Addr `yaml:"-"`
}

// Range is a pool's first and last address.
type Range struct{ First, Last netip.Addr }

// Reservation gives one MAC always the same address.
type Reservation struct {
	MAC      string `yaml:"mac"`
	IP       string `yaml:"ip"`
	Hostname string `yaml:"hostname"`

	HW   net.HardwareAddr `yaml:"-"` // MAC, parsed by Validate
	Addr netip.Addr       `yaml:"-"` // IP, parsed by Validate
}

// Option is one DHCP option by code, with exactly one typed value.
type Option struct {
	Code   int      `yaml:"code"`
	Text   *string  `yaml:"text"`
	Hex    *string  `yaml:"hex"`
	IPs    []string `yaml:"ips"`
	Uint8  *uint8   `yaml:"uint8"`
	Uint16 *uint16  `yaml:"uint16"`
	Uint32 *uint32  `yaml:"uint32"`
	Bool   *bool    `yaml:"bool"`
}

// DefaultCacheThreshold is dhcp.cache_threshold when it is not set.
const DefaultCacheThreshold = 0.25

// DefaultLeaseTime is a subnet's lease time when neither it nor dhcp sets one.
const DefaultLeaseTime = 12 * time.Hour

// serverOptions are the option codes rackboot sets itself in full mode.
var serverOptions = map[int]string{
	0: "pad", 1: "the subnet mask (from subnet)", 3: "router (use router:)", 6: "DNS (use dns:)",
	12: "the host name (use a reservation's hostname:)", 15: "the domain (use domain:)",
	26: "the MTU (use mtu:)", 42: "NTP (use ntp:)", 50: "the requested address", 51: "the lease time (use lease_time:)",
	52: "option overload", 53: "the message type", 54: "the server identifier", 55: "the parameter request list",
	57: "the maximum message size", 58: "T1 (use renew_time:)", 59: "T2 (use rebind_time:)",
	61: "the client identifier", 82: "relay agent information (echoed)", 255: "end",
}

// validate checks the full-mode settings; key is "dhcp".
func (d *DHCP) validate() error {
	switch d.Mode {
	case DHCPProxy, DHCPOff:
		return nil // the rest is for full mode; not checked, not used
	case DHCPFull:
	default:
		return fmt.Errorf("dhcp.mode: %q is not a mode (want proxy, off or full)", d.Mode)
	}
	if len(d.Subnets) == 0 {
		return errors.New("dhcp.subnets: full mode needs at least one subnet to lease addresses in (see 'rackboot serve --help')")
	}
	for key, v := range map[string]Duration{"dhcp.lease_time": d.LeaseTime, "dhcp.decline_hold": d.DeclineHold, "dhcp.ping_check": d.PingCheck} {
		if v < 0 {
			return fmt.Errorf("%s: %v must not be negative", key, v.Std())
		}
	}
	if t := d.CacheThreshold; t != nil && (*t < 0 || *t >= 1) {
		return fmt.Errorf("dhcp.cache_threshold: %v: want a fraction of the lease time from 0 (off) to below 1, e.g. 0.25", *t)
	}
	if d.PingCheck.Std() > 5*time.Second {
		return fmt.Errorf("dhcp.ping_check: %v is too long: clients give up on an offer after a few seconds (try 300ms)", d.PingCheck.Std())
	}
	var err error
	if d.DNSAddrs, d.NTPAddrs, err = checkCommon("dhcp", d.DNS, d.Domain, d.NTP, d.Options); err != nil {
		return err
	}
	var prefixes []netip.Prefix
	macs := map[string]string{}
	for i := range d.Subnets {
		key := fmt.Sprintf("dhcp.subnets[%d]", i)
		p, err := d.Subnets[i].validate(key, d.LeaseTime.Std(), macs)
		if err != nil {
			return err
		}
		for j, q := range prefixes {
			if q.Overlaps(p) {
				return fmt.Errorf("%s.subnet: %v overlaps dhcp.subnets[%d] (%v)", key, p, j, q)
			}
		}
		prefixes = append(prefixes, p)
	}
	return nil
}

func (s *Subnet) validate(key string, defLease time.Duration, macs map[string]string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s.Subnet)
	switch {
	case s.Subnet == "":
		return p, fmt.Errorf("%s.subnet: missing (write the network, e.g. 10.0.0.0/24)", key)
	case err != nil || !p.Addr().Is4():
		return p, fmt.Errorf("%s.subnet: %q is not an IPv4 network like 10.0.0.0/24", key, s.Subnet)
	case p != p.Masked():
		return p, fmt.Errorf("%s.subnet: %q has host bits set (did you mean %v?)", key, s.Subnet, p.Masked())
	case p.Bits() > 30:
		return p, fmt.Errorf("%s.subnet: %v is too small to lease addresses in (want /30 or larger)", key, p)
	}
	if len(s.Pools) == 0 && len(s.Reservations) == 0 {
		return p, fmt.Errorf("%s.pools: the subnet has neither pools nor reservations: nothing to lease", key)
	}
	s.Prefix = p
	if err := s.checkPools(key); err != nil {
		return p, err
	}
	s.RouterAddr = netip.Addr{}
	if s.Router != "" {
		r, err := netip.ParseAddr(s.Router)
		if err != nil || !r.Is4() || !p.Contains(r) {
			return p, fmt.Errorf("%s.router: %q is not an IPv4 address inside %v", key, s.Router, p)
		}
		s.RouterAddr = r
	}
	if s.MTU != 0 && (s.MTU < 68 || s.MTU > 65535) {
		return p, fmt.Errorf("%s.mtu: %d is not an MTU (68 to 65535)", key, s.MTU)
	}
	if err := s.checkTimes(key, defLease); err != nil {
		return p, err
	}
	if s.DNSAddrs, s.NTPAddrs, err = checkCommon(key, s.DNS, s.Domain, s.NTP, s.Options); err != nil {
		return p, err
	}
	return p, s.checkReservations(key, macs)
}

// checkPools parses the pools into Ranges: inside the subnet, not
// overlapping each other.
func (s *Subnet) checkPools(key string) error {
	p := s.Prefix
	s.Ranges = nil
	for i, spec := range s.Pools {
		k := fmt.Sprintf("%s.pools[%d]", key, i)
		first, last, err := ParsePool(spec)
		if err != nil {
			return fmt.Errorf("%s: %v", k, err)
		}
		if !p.Contains(first) || !p.Contains(last) {
			return fmt.Errorf("%s: %q is not inside %v", k, spec, p)
		}
		for j, r := range s.Ranges {
			if first.Compare(r.Last) <= 0 && r.First.Compare(last) <= 0 {
				return fmt.Errorf("%s: %q overlaps %s.pools[%d]", k, spec, key, j)
			}
		}
		s.Ranges = append(s.Ranges, Range{first, last})
	}
	return nil
}

// checkTimes checks the lease time (its own, else defLease, else the
// default) against T1 and T2.
func (s *Subnet) checkTimes(key string, defLease time.Duration) error {
	lease := s.LeaseTime.Std()
	if lease == 0 {
		lease = defLease
	}
	if lease == 0 {
		lease = DefaultLeaseTime
	}
	switch t1, t2 := s.RenewTime.Std(), s.RebindTime.Std(); {
	case lease < time.Minute || s.LeaseTime < 0:
		return fmt.Errorf("%s.lease_time: %v is too short (at least 1m)", key, lease)
	case t1 < 0 || t1 >= lease:
		return fmt.Errorf("%s.renew_time: %v must be shorter than the lease time %v", key, t1, lease)
	case t2 < 0 || t2 >= lease:
		return fmt.Errorf("%s.rebind_time: %v must be shorter than the lease time %v", key, t2, lease)
	case t1 != 0 && t2 != 0 && t1 >= t2:
		return fmt.Errorf("%s.renew_time: %v must be shorter than rebind_time %v (RFC 2131 §4.4.5)", key, t1, t2)
	}
	return nil
}

// checkReservations parses the reservations (HW, Addr): each inside the
// subnet, no address twice, no MAC twice in a subnet (macs is shared by
// the subnets, keyed by prefix and MAC).
func (s *Subnet) checkReservations(key string, macs map[string]string) error {
	p := s.Prefix
	ips := map[netip.Addr]int{}
	for i, r := range s.Reservations {
		k := fmt.Sprintf("%s.reservations[%d]", key, i)
		hw, err := net.ParseMAC(r.MAC)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("%s.mac: %q is not a MAC address like 52:54:00:12:34:56", k, r.MAC)
		}
		a, err := netip.ParseAddr(r.IP)
		if err != nil || !a.Is4() || !p.Contains(a) {
			return fmt.Errorf("%s.ip: %q is not an IPv4 address inside %v", k, r.IP, p)
		}
		if a == p.Addr() || a == lastAddr(p) {
			return fmt.Errorf("%s.ip: %v is the network or broadcast address of %v", k, a, p)
		}
		if j, dup := ips[a]; dup {
			return fmt.Errorf("%s.ip: %v is also reserved by %s.reservations[%d]", k, a, key, j)
		}
		mk := p.String() + " " + hw.String()
		if other, dup := macs[mk]; dup {
			return fmt.Errorf("%s.mac: %v already has a reservation in this subnet (%s)", k, hw, other)
		}
		if r.Hostname != "" && !hostname.MatchString(r.Hostname) {
			return fmt.Errorf("%s.hostname: %q is not a host name (letters, digits, '-' and '.')", k, r.Hostname)
		}
		ips[a] = i
		macs[mk] = k
		s.Reservations[i].HW, s.Reservations[i].Addr = hw, a
	}
	return nil
}

var (
	hostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$`)
	domain   = hostname
)

// checkCommon checks what dhcp: and each subnet may set, and returns the
// DNS and NTP servers parsed.
func checkCommon(key string, dns []string, dom string, ntp []string, opts []Option) (dnsAddrs, ntpAddrs []netip.Addr, err error) {
	if dnsAddrs, err = ipv4List(key+".dns", dns); err != nil {
		return nil, nil, err
	}
	if ntpAddrs, err = ipv4List(key+".ntp", ntp); err != nil {
		return nil, nil, err
	}
	if dom != "" && !domain.MatchString(strings.TrimSuffix(dom, ".")) {
		return nil, nil, fmt.Errorf("%s.domain: %q is not a domain name", key, dom)
	}
	for i, o := range opts {
		if _, err := o.Bytes(); err != nil {
			return nil, nil, fmt.Errorf("%s.options[%d]: %v", key, i, err)
		}
	}
	return dnsAddrs, ntpAddrs, nil
}

func ipv4List(key string, ss []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for i, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("%s[%d]: %q is not an IPv4 address", key, i, s)
		}
		out = append(out, a)
	}
	return out, nil
}

// Bytes is the option's value as it goes on the wire (RFC 2132 types:
// text, IP address lists, 8/16/32-bit integers in network order, flags).
func (o Option) Bytes() ([]byte, error) {
	if o.Code < 1 || o.Code > 254 {
		return nil, fmt.Errorf("code: %d is not a DHCP option code (1 to 254)", o.Code)
	}
	if why, ok := serverOptions[o.Code]; ok {
		return nil, fmt.Errorf("code: option %d is %s, set by rackboot itself", o.Code, why)
	}
	var vals [][]byte
	var kinds []string
	add := func(kind string, b []byte) { vals = append(vals, b); kinds = append(kinds, kind) }
	if o.Text != nil {
		add("text", []byte(*o.Text))
	}
	if o.Hex != nil {
		b, err := hex.DecodeString(strings.NewReplacer(":", "", " ", "").Replace(*o.Hex))
		if err != nil {
			return nil, fmt.Errorf("hex: %q is not hexadecimal bytes (like 0a0b0c or 0a:0b:0c)", *o.Hex)
		}
		add("hex", b)
	}
	if o.IPs != nil {
		var b []byte
		for i, s := range o.IPs {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("ips[%d]: %q is not an IPv4 address", i, s)
			}
			b = append(b, a.AsSlice()...)
		}
		add("ips", b)
	}
	if o.Uint8 != nil {
		add("uint8", []byte{*o.Uint8})
	}
	if o.Uint16 != nil {
		add("uint16", []byte{byte(*o.Uint16 >> 8), byte(*o.Uint16)})
	}
	if o.Uint32 != nil {
		v := *o.Uint32
		add("uint32", []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	if o.Bool != nil {
		b := byte(0)
		if *o.Bool {
			b = 1
		}
		add("bool", []byte{b})
	}
	switch len(vals) {
	case 0:
		return nil, fmt.Errorf("option %d has no value: give one of text, hex, ips, uint8, uint16, uint32, bool", o.Code)
	case 1:
		if len(vals[0]) == 0 && kinds[0] != "text" && kinds[0] != "hex" {
			return nil, fmt.Errorf("%s: option %d has an empty value", kinds[0], o.Code)
		}
		return vals[0], nil
	}
	return nil, fmt.Errorf("option %d has several values (%s): give exactly one", o.Code, strings.Join(kinds, ", "))
}

// ParsePool reads a pool: "first-last" (inclusive) or a CIDR block, whose
// network and broadcast addresses are left out.
func ParsePool(s string) (first, last netip.Addr, err error) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || !first.Is4() || !last.Is4() {
			return first, last, fmt.Errorf("%q is not a range of IPv4 addresses like 10.0.0.100-10.0.0.199", s)
		}
		if last.Less(first) {
			return first, last, fmt.Errorf("%q ends before it starts", s)
		}
		return first, last, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return first, last, fmt.Errorf("%q is neither a range (10.0.0.100-10.0.0.199) nor a block (10.0.0.128/25)", s)
	}
	p = p.Masked()
	first, last = p.Addr(), lastAddr(p)
	if p.Bits() <= 30 {
		first, last = first.Next(), last.Prev()
	}
	return first, last, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}
