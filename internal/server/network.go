package server

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"rackboot/internal/config"
	"rackboot/internal/dhcp"
)

// bootNetwork resolves the interface and the address clients reach us on:
// each can be derived from the other. cfg has been validated (Validate
// parsed advertise).
func bootNetwork(cfg config.Config) (string, netip.Addr, error) {
	switch {
	case cfg.Interface != "" && cfg.AdvertiseAddr.IsValid():
		return cfg.Interface, cfg.AdvertiseAddr, nil
	case cfg.Interface != "":
		ip, err := interfaceIPv4(cfg.Interface)
		return cfg.Interface, ip, err
	case cfg.AdvertiseAddr.IsValid():
		ip := cfg.AdvertiseAddr
		name, err := interfaceWith(ip)
		if err != nil {
			return "", ip, fmt.Errorf("advertise %s: %w; name the boot network with --interface", ip, err)
		}
		return name, ip, nil
	}
	// Nothing said: never guess, not even on a host with one network, since
	// answering PXE on the wrong network reinstalls someone else's machines.
	return "", netip.Addr{}, fmt.Errorf("say which network the machines boot on: --interface NAME (or interface: in --config); "+
		"candidates: %s", strings.Join(bootCandidates(), ", "))
}

// interfaceIPv4 is the interface's first IPv4 address (dhcp.InterfaceIPv4),
// with what to do when there is none.
func interfaceIPv4(name string) (netip.Addr, error) {
	if _, err := net.InterfaceByName(name); err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w (list them with 'ip link')", name, err)
	}
	ip, err := dhcp.InterfaceIPv4(name)
	if err != nil {
		return ip, fmt.Errorf("%w; or say which address clients reach rackboot on with --advertise", err)
	}
	return ip, nil
}

// interfaceWith finds the interface that holds ip.
func interfaceWith(ip netip.Addr) (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if got, ok := netip.AddrFromSlice(ipn.IP); ok && got.Unmap() == ip {
					return ifi.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no interface has address %s", ip)
}

// bootCandidates lists the interfaces that are up, not loopback, and have
// an IPv4 address, as "name (address)": where PXE clients could be.
func bootCandidates() []string {
	ifs, _ := net.Interfaces()
	var out []string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip, err := dhcp.InterfaceIPv4(ifi.Name); err == nil {
			out = append(out, ifi.Name+" ("+ip.String()+")")
		}
	}
	return out
}

// httpBase is the URL prefix clients use to reach the HTTP server.
func httpBase(adv netip.Addr, ln net.Addr) string {
	port := ln.(*net.TCPAddr).Port
	if port == 80 {
		return "http://" + adv.String()
	}
	return fmt.Sprintf("http://%s:%d", adv, port)
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return ln, nil
}
