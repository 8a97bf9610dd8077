package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"time"
)

// LeaseEvent is one DHCPACK (or RELEASE) a full-DHCP server logged.
type LeaseEvent struct {
	Server  string
	At      time.Time
	MAC     string
	IP      netip.Addr
	Release bool // the client gave the address back
}

// DoubleLease is an address ACKed to a client while another held it.
type DoubleLease struct {
	IP          netip.Addr
	Held        LeaseEvent // the ACK that gave the holder the address
	HeldUntil   time.Time
	Conflicting LeaseEvent
}

func (d DoubleLease) String() string {
	return fmt.Sprintf("%v: ACKed to %s by %s at %s, held until %s; ACKed to %s by %s at %s",
		d.IP, d.Held.MAC, d.Held.Server, d.Held.At.Format(time.StampMilli), d.HeldUntil.Format(time.StampMilli),
		d.Conflicting.MAC, d.Conflicting.Server, d.Conflicting.At.Format(time.StampMilli))
}

// FindDoubleLeases goes through every ACK of every server in time order
// and returns each ACK of an address to a client while another client held
// it: a client holds an address from its ACK for leaseTime (a later ACK to
// it extends that), or until it releases it. Nothing else counts: two
// servers ACKing one address to one client is a renewal, not a conflict.
func FindDoubleLeases(events []LeaseEvent, leaseTime time.Duration) []DoubleLease {
	evs := append([]LeaseEvent(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	type holder struct {
		ack   LeaseEvent
		until time.Time
	}
	held := map[netip.Addr]*holder{}
	var out []DoubleLease
	for _, e := range evs {
		h := held[e.IP]
		if e.Release {
			if h != nil && h.ack.MAC == e.MAC && e.At.Before(h.until) {
				h.until = e.At
			}
			continue
		}
		if h != nil && h.ack.MAC != e.MAC && e.At.Before(h.until) {
			out = append(out, DoubleLease{IP: e.IP, Held: h.ack, HeldUntil: h.until, Conflicting: e})
		}
		held[e.IP] = &holder{ack: e, until: e.At.Add(leaseTime)}
	}
	return out
}

// The lines rackboot logs (text handler) for a full-DHCP REQUEST answered
// with an ACK, and for a RELEASE.
var (
	logTime    = regexp.MustCompile(`(?:^| )time=(\S+)`)
	logMAC     = regexp.MustCompile(` mac=(\S+)`)
	logIP      = regexp.MustCompile(` ip=(\S+)`)
	logACK     = regexp.MustCompile(` msg="DHCP REQUEST" .* reply=ACK(?: |$)`)
	logNAK     = regexp.MustCompile(` msg="DHCP REQUEST" .* reply="NAK`)
	logRelease = regexp.MustCompile(` msg="DHCP RELEASE" .* reply=released(?: |$)`)
)

// ParseLeaseLog reads a rackboot log (--log-level debug or info) and
// returns its ACKs and RELEASEs as LeaseEvents of server, and how many
// REQUESTs it NAKed.
func ParseLeaseLog(server string, r io.Reader) (events []LeaseEvent, naks int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if logNAK.MatchString(line) {
			naks++
			continue
		}
		release := logRelease.MatchString(line)
		if !release && !logACK.MatchString(line) {
			continue
		}
		tm, mac, ip := logTime.FindStringSubmatch(line), logMAC.FindStringSubmatch(line), logIP.FindStringSubmatch(line)
		if tm == nil || mac == nil || ip == nil {
			return nil, 0, fmt.Errorf("%s: lease line without time, mac or ip: %s", server, line)
		}
		at, err := time.Parse(time.RFC3339Nano, tm[1])
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %s: %w", server, line, err)
		}
		addr, err := netip.ParseAddr(ip[1])
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %s: %w", server, line, err)
		}
		events = append(events, LeaseEvent{Server: server, At: at, MAC: mac[1], IP: addr, Release: release})
	}
	return events, naks, sc.Err()
}
