// Package download fetches a URL into a part file, resuming what an earlier
// attempt left there, with a meta file beside it (<part>.json) that says
// where those bytes came from.
//
// A resume is an HTTP range request (RFC 9110, 14.2 Range) guarded by
// If-Range (RFC 9110, 13.1.5) with the validator the first answer gave: a
// strong ETag, else Last-Modified, so that a file changed on the server is
// sent whole (200) instead of spliced onto stale bytes. A 206 answer is
// accepted only when its Content-Range (RFC 9110, 14.4) starts at the byte
// asked for; a 416 means either that every byte is already here or that
// the part does not fit the server's file.
package download

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// MetaSuffix names the file beside a part that says where it came from.
const MetaSuffix = ".json"

// Fetcher fetches into part files. The zero value makes one attempt with
// http.DefaultClient; every hook is optional.
type Fetcher struct {
	Client     *http.Client  // nil: http.DefaultClient
	Attempts   int           // requests per Fetch when a connection is cut; < 1: 1
	RetryDelay time.Duration // pause after attempt n; 0: n seconds
	Logger     *slog.Logger  // nil: discard
	// Copy writes the body, whose bytes start at offset of total (-1:
	// unknown), to dst; callers report progress here. nil: io.Copy.
	Copy func(ctx context.Context, dst io.Writer, body io.Reader, offset, total int64) (int64, error)
	// FSError explains an error of the disk (a full file system, say);
	// an error it changes ends the download without another attempt.
	FSError func(error) error
	// NotFound is the advice in a 404's error; "": "check the URL".
	NotFound string
	// DiscardOnFailure removes the part when the download fails for good
	// (not when attempts run out or ctx ends: those keep it to resume).
	DiscardOnFailure bool
}

// Fetch fetches rawURL into part, resuming what an earlier attempt left
// there. A connection cut mid-body, or a 5xx answer, is retried up to
// Attempts times; a failed or stopped download keeps its bytes and meta
// for the next Fetch of the same URL into the same part.
func (f Fetcher) Fetch(ctx context.Context, rawURL, part string) error {
	for attempt := 1; ; attempt++ {
		retry, err := f.once(ctx, rawURL, part)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("download %s: %w (the partial file is kept; run the import again to resume)", rawURL, ctx.Err())
		}
		if !retry {
			if f.DiscardOnFailure {
				Remove(part)
			}
			return fmt.Errorf("download %s: %w", rawURL, err)
		}
		if attempt >= f.Attempts {
			return fmt.Errorf("download %s: %w (%d attempts; the partial file is kept: run the import again to resume)", rawURL, err, attempt)
		}
		f.log().Warn("download interrupted; resuming", "url", rawURL, "attempt", attempt, "err", err)
		delay := f.RetryDelay
		if delay == 0 {
			delay = time.Duration(attempt) * time.Second
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
}

// Remove deletes a part and its meta: a finished download, or one that
// must start afresh.
func Remove(part string) {
	os.Remove(part)
	os.Remove(part + MetaSuffix)
}

// meta is what a resume needs to know about a part.
type meta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"` // -1: the server did not say
}

// validator is the If-Range value: a strong ETag, else Last-Modified
// (RFC 9110, 13.1.5: If-Range takes no weak ETag).
func (m meta) validator() string {
	if m.ETag != "" && !strings.HasPrefix(m.ETag, "W/") {
		return m.ETag
	}
	return m.LastModified
}

// once makes one request; retry says whether another may help.
func (f Fetcher) once(ctx context.Context, rawURL, part string) (retry bool, err error) {
	have, m := resumePoint(part, rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", m.validator())
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	var offset int64
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		var size int64
		offset, size, err = contentRange(resp.Header.Get("Content-Range"))
		if err != nil || offset != have {
			return false, fmt.Errorf("server answered range %q to a request from byte %d", resp.Header.Get("Content-Range"), have)
		}
		m.Size = size
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		if have == m.Size {
			return false, nil // an earlier attempt got every byte
		}
		Remove(part)
		return true, errors.New("the partial download does not match the server's file; starting again")
	case resp.StatusCode == http.StatusOK:
		m = meta{URL: rawURL, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), Size: resp.ContentLength}
	case resp.StatusCode == http.StatusNotFound:
		advice := f.NotFound
		if advice == "" {
			advice = "check the URL"
		}
		return false, errors.New("not found (404): " + advice)
	case resp.StatusCode >= 500:
		return true, fmt.Errorf("server answered %s", resp.Status)
	default:
		Remove(part) // the server refuses this file: what we have is useless
		return false, fmt.Errorf("server answered %s", resp.Status)
	}
	if err := f.writeMeta(part, m); err != nil {
		return false, err
	}
	return f.receive(ctx, resp.Body, part, offset, m.Size)
}

// receive writes body into part from offset on.
func (f Fetcher) receive(ctx context.Context, body io.Reader, part string, offset, total int64) (retry bool, err error) {
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	out, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return false, err
	}
	defer out.Close()
	if _, err := out.Seek(offset, io.SeekStart); err != nil {
		return false, err
	}
	cp := f.Copy
	if cp == nil {
		cp = func(_ context.Context, dst io.Writer, src io.Reader, _, _ int64) (int64, error) {
			return io.Copy(dst, src)
		}
	}
	n, err := cp(ctx, out, body, offset, total)
	if err != nil {
		if ferr := f.fsError(err); ferr != err {
			return false, ferr
		}
		return ctx.Err() == nil, err
	}
	if total >= 0 && offset+n != total {
		return true, fmt.Errorf("got %d of %d bytes", offset+n, total)
	}
	if err := out.Sync(); err != nil {
		return false, f.fsError(err)
	}
	return false, out.Close()
}

// resumePoint is how many bytes of part can be kept for rawURL, and where
// they came from: none without a validator to ask If-Range with.
func resumePoint(part, rawURL string) (int64, meta) {
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 {
		return 0, meta{}
	}
	b, err := os.ReadFile(part + MetaSuffix)
	var m meta
	if err != nil || json.Unmarshal(b, &m) != nil || m.URL != rawURL || m.validator() == "" {
		return 0, meta{}
	}
	return fi.Size(), m
}

// writeMeta replaces part's meta whole (write, fsync, rename), so that a
// crash leaves the old meta or the new, never half of one.
func (f Fetcher) writeMeta(part string, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := part + MetaSuffix + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = out.Write(b)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, f.fsError(err))
	}
	return os.Rename(tmp, part+MetaSuffix)
}

// contentRange parses "bytes 100-199/200" (RFC 9110, 14.4) into its first
// byte and the whole size (-1 for "*").
func contentRange(cr string) (start, size int64, err error) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	first, rest, ok2 := strings.Cut(rest, "-")
	_, total, ok3 := strings.Cut(rest, "/")
	if !ok || !ok2 || !ok3 {
		return 0, 0, fmt.Errorf("bad Content-Range %q", cr)
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, err
	}
	if total == "*" {
		return start, -1, nil
	}
	size, err = strconv.ParseInt(total, 10, 64)
	return start, size, err
}

func (f Fetcher) fsError(err error) error {
	if f.FSError == nil {
		return err
	}
	return f.FSError(err)
}

func (f Fetcher) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}
