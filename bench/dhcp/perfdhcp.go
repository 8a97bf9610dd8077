//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// perfResult is what one perfdhcp run reports.
type perfResult struct {
	Rate                 float64 // completed 4-way exchanges per second
	Discovers, Offers    int
	Requests, Acks       int
	OfferDrops, AckDrops int
	AckDelay             float64 // ms, REQUEST-ACK average
	// Datagrams the kernel dropped because a socket's receive buffer was
	// full (RcvbufErrors of /proc/net/snmp): perfdhcp's, in the client
	// namespace, and the server's. perfdhcp counts the first as drops
	// too, though the server answered.
	ClientBufDrops, ServerBufDrops int
}

func (p perfResult) dropPercent() float64 {
	if p.Discovers == 0 {
		return 0
	}
	return 100 * float64(p.Discovers-p.Acks) / float64(p.Discovers)
}

// perfdhcp runs Kea's perfdhcp in the client namespace: rate exchanges
// per second offered for secs seconds, from up to clients simulated
// clients (random MACs), each exchange a DORA.
func (l *lab) perfdhcp(ctx context.Context, rate, secs, clients int) (perfResult, error) {
	return l.perfdhcpTo(ctx, l.dest(), rate, secs, clients)
}

// perfdhcpTo is perfdhcp sending to dest.
func (l *lab) perfdhcpTo(ctx context.Context, dest string, rate, secs, clients int) (perfResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
	defer cancel()
	cli0, srv0 := rcvbufErrors(l.cliNS), l.serverRcvbufErrors()
	args := []string{"netns", "exec", l.cliNS, "perfdhcp", "-4", "-r", strconv.Itoa(rate), "-R", strconv.Itoa(clients),
		"-p", strconv.Itoa(secs), "-l", l.cliIf}
	if dest != "all" {
		// Without a server, perfdhcp broadcasts (cluster.go).
		args = append(args, dest)
	}
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	// perfdhcp exits 3 when packets were dropped: not an error here.
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		err = nil
	}
	if err != nil {
		return perfResult{}, fmt.Errorf("perfdhcp: %v\n%s", err, out)
	}
	p, err := parsePerfdhcp(string(out))
	p.ClientBufDrops, p.ServerBufDrops = rcvbufErrors(l.cliNS)-cli0, l.serverRcvbufErrors()-srv0
	return p, err
}

// serverRcvbufErrors is rcvbufErrors of the server namespaces.
func (l *lab) serverRcvbufErrors() int {
	n := rcvbufErrors(l.srvNS)
	if l.srv2NS != "" {
		n += rcvbufErrors(l.srv2NS)
	}
	return n
}

// rcvbufErrors reads the UDP RcvbufErrors counter of namespace ns.
func rcvbufErrors(ns string) int {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	return 0
}

var (
	rateRE  = regexp.MustCompile(`Rate: ([0-9.]+) 4-way exchanges/second`)
	fieldRE = regexp.MustCompile(`(?m)^(sent packets|received packets|drops|avg delay): ([0-9.]+)`)
)

func parsePerfdhcp(out string) (perfResult, error) {
	var p perfResult
	m := rateRE.FindStringSubmatch(out)
	if m == nil {
		return p, fmt.Errorf("perfdhcp printed no rate:\n%s", out)
	}
	p.Rate, _ = strconv.ParseFloat(m[1], 64)
	for _, sec := range strings.Split(out, "***Statistics for: ")[1:] {
		name, body, _ := strings.Cut(sec, "***")
		fields := map[string]float64{}
		for _, f := range fieldRE.FindAllStringSubmatch(body, -1) {
			fields[f[1]], _ = strconv.ParseFloat(f[2], 64)
		}
		switch name {
		case "DISCOVER-OFFER":
			p.Discovers, p.Offers, p.OfferDrops = int(fields["sent packets"]), int(fields["received packets"]), int(fields["drops"])
		case "REQUEST-ACK":
			p.Requests, p.Acks, p.AckDrops = int(fields["sent packets"]), int(fields["received packets"]), int(fields["drops"])
			p.AckDelay = fields["avg delay"]
		}
	}
	if !strings.Contains(out, "REQUEST-ACK") {
		// Nothing was offered, so nothing was requested.
		p.AckDrops = p.Discovers
	}
	return p, nil
}
