// Package dhcp is rackboot's proxyDHCP server (PXE spec 2.1 §2.2.5, RFC 4578).
//
// A proxyDHCP server leases no addresses. It listens next to the network's
// real DHCP server and, to clients that ask to be network-booted, says only
// where to boot from: the real server's offer gives the address, ours gives
// next-server and boot file. Firmware PXE ROMs get an iPXE build over TFTP;
// iPXE, when it DHCPs again, gets the URL of its menu; UEFI HTTP-boot clients
// get an HTTP URL. What each client gets is decided elsewhere (boot.Config's
// Decide); this package receives requests and sends answers, in packets
// that internal/dhcp4 decodes and encodes.
//
// Two ports: 67, where DHCPDISCOVERs are broadcast, and 4011, where PXE
// clients send the ProxyDHCPREQUEST for their boot file (EDK2 always does when
// the proxy offer carries no PXE boot menu; iPXE does when the offer lacks a
// next-server or boot file).
//
// In ModeOff the server only listens: it answers nobody but records which
// clients run iPXE at which address (boot.Sightings), so that the TFTP server
// can break the chainload loop when a DHCP server we cannot change hands
// undionly.kpxe to iPXE itself (boot.LoopBreaker).
//
// FullServer (full*.go) is the other way: the network's own DHCP server,
// leasing addresses from a lease.Manager and booting clients with the same
// decision and boot fields as the proxy. Both embed Config and share one
// listen and one read loop (conn.go).
package dhcp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/pxe"
)

// Config is what both servers are told: which link they serve, as whom, what
// a network-boot client gets and whom they tell about each packet.
// ProxyServer and FullServer embed it.
type Config struct {
	// Interface to serve, e.g. "eth0". Empty serves every interface. A full
	// server's relay agents must reach it on this interface too.
	Interface string
	// ServerIP is our address on that link: option 54 (server
	// identifier), where PXE clients send their ProxyDHCPREQUEST (port
	// 4011) and relayed and renewing clients their requests. Required,
	// but for a proxy in ModeOff; see InterfaceIPv4.
	ServerIP netip.Addr
	// Decide says what a network-boot client boots; usually
	// boot.Config.Decide. Required by a proxy in ModeProxy; a full server
	// without it leases addresses without boot fields.
	Decide func(pxe.Client) boot.Decision
	// Sightings, when not nil, records every network-boot client's
	// address, arch and whether it runs iPXE (see boot.LoopBreaker).
	Sightings *boot.Sightings
	// Logger; nil discards.
	Logger *slog.Logger
	// OnEvent, when not nil, is called for every packet received. It must
	// not block, and may be called from several goroutines at once.
	OnEvent func(Event)
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// checkServerIP says what is wrong with ServerIP, if anything.
func (c *Config) checkServerIP() error {
	if !c.ServerIP.Is4() {
		return fmt.Errorf("DHCP: server IP %v is not an IPv4 address: set the address clients reach rackboot at", c.ServerIP)
	}
	return nil
}

// Mode selects whether the server answers.
type Mode int

const (
	// ModeProxy answers network-boot clients as a proxyDHCP server.
	ModeProxy Mode = iota
	// ModeOff only listens on port 67: it records sightings and sends nothing.
	ModeOff
)

func (m Mode) String() string {
	switch m {
	case ModeProxy:
		return "proxy"
	case ModeOff:
		return "off"
	}
	return "unknown"
}

// Outcome is what the server did with one packet.
type Outcome string

const (
	Answered  Outcome = "answered"
	Ignored   Outcome = "ignored"
	Malformed Outcome = "malformed"
	SendError Outcome = "send-error"
)

// Event describes one packet the server received and what it did with it.
type Event struct {
	Time        time.Time
	Port        int            // the port it arrived on: 67 or 4011
	From        netip.AddrPort // its source
	Type        string         // DHCP message type, "DISCOVER", "REQUEST"...; empty if malformed
	MAC         net.HardwareAddr
	Arch        pxe.Arch
	IPXE        bool
	Features    pxe.Features // iPXE's feature flags (option 175)
	ClientIP    netip.Addr   // the address the client will use, when known
	UUID        []byte       // option 97 (RFC 4578 §2.3), type byte included; nil if absent
	VendorClass string       // option 60
	Outcome     Outcome
	Reason      string // why it was ignored, malformed or answered so
	BootFile    string // what we answered, when we did
}

// Stats are cumulative packet counters. Received = Answered + Ignored +
// Malformed + SendErrors.
type Stats struct {
	Received   uint64
	Answered   uint64
	Ignored    uint64
	Malformed  uint64
	SendErrors uint64
}
