package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Pinger reports whether an address answers an ICMP echo before ctx ends.
type Pinger interface {
	Ping(ctx context.Context, ip netip.Addr) bool
}

// icmpPinger pings over one raw ICMP socket (root, or CAP_NET_RAW) shared
// by every check; a reader goroutine matches echo replies to waiting checks
// by sequence number and source.
type icmpPinger struct {
	c    *icmp.PacketConn
	id   int
	seq  atomic.Uint32
	log  *slog.Logger
	mu   sync.Mutex
	wait map[int]pendingPing
}

type pendingPing struct {
	ip netip.Addr
	ch chan struct{}
}

func newICMPPinger(log *slog.Logger) (*icmpPinger, error) {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("raw ICMP socket: %w", err)
	}
	p := &icmpPinger{c: c, id: os.Getpid() & 0xffff, log: log, wait: map[int]pendingPing{}}
	go p.read()
	return p, nil
}

func (p *icmpPinger) Close() error { return p.c.Close() }

func (p *icmpPinger) Ping(ctx context.Context, ip netip.Addr) bool {
	seq := int(p.seq.Add(1) & 0xffff)
	ch := make(chan struct{})
	p.mu.Lock()
	p.wait[seq] = pendingPing{ip, ch}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if w, ok := p.wait[seq]; ok && w.ch == ch {
			delete(p.wait, seq)
		}
		p.mu.Unlock()
	}()
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: []byte("rackboot ping check")}}
	b, err := msg.Marshal(nil)
	if err == nil {
		_, err = p.c.WriteTo(b, &net.IPAddr{IP: ip.AsSlice()})
	}
	if err != nil {
		p.log.Debug("DHCP ping check: cannot send", "ip", ip, "err", err)
		return false
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *icmpPinger) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.c.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		m, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMPv4
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		ia, ok2 := from.(*net.IPAddr)
		if !ok || !ok2 || e.ID != p.id {
			continue
		}
		src, _ := netip.AddrFromSlice(ia.IP.To4())
		p.mu.Lock()
		if w, ok := p.wait[e.Seq]; ok && w.ip == src {
			close(w.ch)
			delete(p.wait, e.Seq)
		}
		p.mu.Unlock()
	}
}
