package storm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"sync"
	"time"
)

// TFTPLoad is many clients downloading one file over TFTP at once.
type TFTPLoad struct {
	Server  netip.AddrPort
	File    string
	Clients int
	Rounds  int         // downloads per client, one after the other (default 1)
	Options TFTPOptions // SizeProbe is ignored: one request per download
	Local   netip.Addr  // source address; invalid: the kernel picks
}

// HTTPLoad is many clients downloading one URL over HTTP at once.
type HTTPLoad struct {
	URL     string
	Clients int
	Rounds  int // downloads per client over its kept-alive connection (default 1)
	Local   netip.Addr
	Timeout time.Duration // a connection idle this long fails (default 1m)
}

// LoadReport is the outcome of a TFTP or HTTP load. Durations in seconds.
type LoadReport struct {
	Kind        string     `json:"kind"` // "tftp" or "http"
	Target      string     `json:"target"`
	Clients     int        `json:"clients"`
	Downloads   int        `json:"downloads"`
	Failed      int        `json:"failed"`
	WallS       float64    `json:"wall_s"` // until the last download ended
	Transfer    StageStats `json:"transfer"`
	Bytes       int64      `json:"bytes"` // file bytes received
	MBps        float64    `json:"mb_per_s"`
	Retransmits int        `json:"retransmits,omitempty"`
	BlockSize   int        `json:"blksize,omitempty"`
	WindowSize  int        `json:"windowsize,omitempty"`
	FirstError  string     `json:"first_error,omitempty"`
}

// RunTFTP runs a TFTP load.
func RunTFTP(ctx context.Context, l TFTPLoad) (*LoadReport, error) {
	if l.Clients < 1 || l.File == "" || !l.Server.IsValid() {
		return nil, errors.New("tftp load: need a server, a file and at least one client")
	}
	o := l.Options
	o.SizeProbe = false
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 6
	}
	r := &LoadReport{Kind: "tftp", Target: fmt.Sprintf("tftp://%v/%s", l.Server, l.File), Clients: l.Clients}
	var mu sync.Mutex
	run(ctx, l.Clients, max(l.Rounds, 1), r, func(ctx context.Context) (int64, error) {
		res, err := tftpGet(ctx, l.Local, l.Server, l.File, o)
		mu.Lock()
		r.Retransmits += res.Retransmits
		r.BlockSize, r.WindowSize = res.BlockSize, res.WindowSize
		mu.Unlock()
		return res.Size, err
	}, nil)
	return r, ctx.Err()
}

// RunHTTP runs an HTTP load.
func RunHTTP(ctx context.Context, l HTTPLoad) (*LoadReport, error) {
	u, err := url.Parse(l.URL)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("http load: URL %q: want http://...", l.URL)
	}
	if l.Clients < 1 {
		return nil, errors.New("http load: at least one client")
	}
	if l.Timeout <= 0 {
		l.Timeout = time.Minute
	}
	r := &LoadReport{Kind: "http", Target: l.URL, Clients: l.Clients}
	fetchers := make(chan *fetcher, l.Clients)
	for range l.Clients {
		fetchers <- &fetcher{local: l.Local, timeout: l.Timeout}
	}
	run(ctx, l.Clients, max(l.Rounds, 1), r, func(ctx context.Context) (int64, error) {
		f := <-fetchers // one per client: its kept-alive connection
		defer func() { fetchers <- f }()
		n, _, err := f.get(ctx, u, nil)
		return n, err
	}, func() {
		close(fetchers)
		for f := range fetchers {
			f.close()
		}
	})
	return r, ctx.Err()
}

// run starts clients goroutines that each call get rounds times, and fills r.
func run(ctx context.Context, clients, rounds int, r *LoadReport, get func(context.Context) (int64, error), after func()) {
	var (
		mu   sync.Mutex
		durs []time.Duration
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for range rounds {
				t0 := time.Now()
				n, err := get(ctx)
				d := time.Since(t0)
				mu.Lock()
				r.Downloads++
				r.Bytes += n
				if err != nil {
					r.Failed++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				} else {
					durs = append(durs, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.WallS = time.Since(start).Seconds()
	if after != nil {
		after()
	}
	r.Transfer = StageStats{Name: "transfer", Done: len(durs), Failed: r.Failed}
	r.Transfer.fill(durs)
	if r.WallS > 0 {
		r.MBps = float64(r.Bytes) / 1e6 / r.WallS
	}
}

// WriteText prints the load report.
func (r *LoadReport) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s load: %d clients, %d downloads of %s, %d failed\n"+
		"wall %s, %s received, %.1f MB/s; per download p50 %s p95 %s p99 %s max %s",
		r.Kind, r.Clients, r.Downloads, r.Target, r.Failed, secs(r.WallS), FormatBytes(r.Bytes), r.MBps,
		secs(r.Transfer.P50S), secs(r.Transfer.P95S), secs(r.Transfer.P99S), secs(r.Transfer.MaxS))
	if err == nil && r.Kind == "tftp" {
		_, err = fmt.Fprintf(w, "; blksize %d, windowsize %d, %d retransmits", r.BlockSize, r.WindowSize, r.Retransmits)
	}
	if err == nil && r.FirstError != "" {
		_, err = fmt.Fprintf(w, "\nfirst error: %s", r.FirstError)
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}
