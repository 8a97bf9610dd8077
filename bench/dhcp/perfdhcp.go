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
}

func (p perfResult) dropPercent() float64 {
	if p.Discovers == 0 {
		return 0
	}
	return 100 * float64(p.Discovers-p.Acks) / float64(p.Discovers)
}

// perfdhcp runs Kea's perfdhcp in the client namespace: rate exchanges
// per second offered for secs seconds, from up to 16 million simulated
// clients (random MACs), each exchange a DORA.
func (l *lab) perfdhcp(ctx context.Context, rate, secs int) (perfResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
	defer cancel()
	args := []string{"netns", "exec", l.cliNS, "perfdhcp", "-4", "-r", strconv.Itoa(rate), "-R", "16000000",
		"-p", strconv.Itoa(secs), "-l", l.cliIf, serverIP}
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	// perfdhcp exits 3 when packets were dropped: not an error here.
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		err = nil
	}
	if err != nil {
		return perfResult{}, fmt.Errorf("perfdhcp: %v\n%s", err, out)
	}
	return parsePerfdhcp(string(out))
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
