package main

import (
	"fmt"
	"net"
	"net/netip"
)

// interfaceIPv4 returns the first IPv4 address of the named interface.
func interfaceIPv4(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w (list them with 'ip link')", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && ipn.IP.To4() != nil {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address: give it one, or say which address clients reach rackboot on with --advertise", name)
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

type candidate struct {
	name string
	ip   netip.Addr
}

// bootCandidates lists the interfaces that are up, not loopback, and have
// an IPv4 address: where PXE clients could be.
func bootCandidates() []candidate {
	ifs, _ := net.Interfaces()
	var out []candidate
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip, err := interfaceIPv4(ifi.Name); err == nil {
			out = append(out, candidate{ifi.Name, ip})
		}
	}
	return out
}
