package config

import "fmt"

// TFTP bounds the TFTP server under a flood (DESIGN.md, "What bounds each
// protocol under a flood"). Zero takes the server's defaults: 2048 in total,
// 8 per client address.
type TFTP struct {
	MaxTransfers          int `yaml:"max_transfers"`
	MaxTransfersPerClient int `yaml:"max_transfers_per_client"`
}

// HTTP bounds the HTTP server's connections. Zero takes the server's
// defaults: 2048 in total, 32 per client address.
type HTTP struct {
	MaxConnections          int `yaml:"max_connections"`
	MaxConnectionsPerClient int `yaml:"max_connections_per_client"`
}

// maxTFTPTransfers: each transfer has its own UDP port (its TID, RFC 1350),
// taken from the ephemeral range (Linux: 32768-60999, about 28,000).
const maxTFTPTransfers = 28000

func (t TFTP) validate() error {
	if err := capPair("tftp.max_transfers", t.MaxTransfers, "tftp.max_transfers_per_client", t.MaxTransfersPerClient); err != nil {
		return err
	}
	if t.MaxTransfers > maxTFTPTransfers {
		return fmt.Errorf("tftp.max_transfers: %d is more than the %d ephemeral UDP ports a host has (each transfer uses one); "+
			"leave it out for the default 2048", t.MaxTransfers, maxTFTPTransfers)
	}
	return nil
}

func (h HTTP) validate() error {
	return capPair("http.max_connections", h.MaxConnections, "http.max_connections_per_client", h.MaxConnectionsPerClient)
}

// capPair checks a total cap and a per-client cap: not negative, and the
// per-client one not above the total when both are set.
func capPair(totalKey string, total int, perKey string, per int) error {
	switch {
	case total < 0:
		return fmt.Errorf("%s: %d is negative (0 or leave it out for the default)", totalKey, total)
	case per < 0:
		return fmt.Errorf("%s: %d is negative (0 or leave it out for the default)", perKey, per)
	case total > 0 && per > total:
		return fmt.Errorf("%s: %d is more than %s (%d)", perKey, per, totalKey, total)
	}
	return nil
}
