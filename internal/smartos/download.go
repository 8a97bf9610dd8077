package smartos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// metaSuffix names the file beside a partial download that says where it
// came from, so that a resume asks for the same bytes.
const metaSuffix = ".json"

// downloadAttempts bounds how often one Import retries a cut connection.
const downloadAttempts = 4

// partMeta is what a resume needs to know about a partial download.
type partMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"` // -1 when the server did not say
}

// validator is the If-Range value: the ETag, or else Last-Modified.
func (m partMeta) validator() string {
	if m.ETag != "" && !strings.HasPrefix(m.ETag, "W/") {
		return m.ETag
	}
	return m.LastModified
}

// download fetches rawURL into part, resuming what an earlier attempt left
// there (HTTP Range with If-Range, so a changed file is fetched anew). A
// connection cut mid-body is resumed up to downloadAttempts times.
func (im *Importer) download(ctx context.Context, rawURL, part, build string) error {
	if !im.claim(part) {
		return fmt.Errorf("download %s: another import is already downloading it; wait for that one", rawURL)
	}
	defer im.release(part)
	var err error
	for attempt := 1; attempt <= downloadAttempts; attempt++ {
		var retry bool
		retry, err = im.downloadOnce(ctx, rawURL, part, build)
		if err == nil || !retry || ctx.Err() != nil {
			break
		}
		im.log().Warn("download interrupted; resuming", "url", rawURL, "attempt", attempt, "err", err)
		delay := im.retryDelay
		if delay == 0 {
			delay = time.Duration(attempt) * time.Second
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("download %s: %w (the partial file is kept; run the import again to resume)", rawURL, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", rawURL, err)
	}
	return nil
}

// downloadOnce makes one request. retry says whether a new attempt may help.
func (im *Importer) downloadOnce(ctx context.Context, rawURL, part, build string) (retry bool, err error) {
	have, meta := resumePoint(part, rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", meta.validator())
	}
	resp, err := im.client().Do(req)
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
		meta.Size = size
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		if have == meta.Size {
			return false, nil // an earlier attempt got every byte
		}
		removeDownload(part)
		return true, errors.New("the partial download does not match the server's file; starting again")
	case resp.StatusCode == http.StatusOK:
		meta = partMeta{URL: rawURL, ETag: resp.Header.Get("ETag"),
			LastModified: resp.Header.Get("Last-Modified"), Size: resp.ContentLength}
	case resp.StatusCode == http.StatusNotFound:
		return false, errors.New("not found (404): check the URL or the build name")
	case resp.StatusCode >= 500:
		return true, fmt.Errorf("server answered %s", resp.Status)
	default:
		removeDownload(part) // the server refuses this file: what we have is useless
		return false, fmt.Errorf("server answered %s", resp.Status)
	}
	if err := writeMeta(part, meta); err != nil {
		return false, err
	}
	return im.receive(ctx, resp.Body, part, offset, meta.Size, build)
}

// resumePoint returns how many bytes of part can be kept for rawURL.
func resumePoint(part, rawURL string) (int64, partMeta) {
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 {
		return 0, partMeta{}
	}
	b, err := os.ReadFile(part + metaSuffix)
	var m partMeta
	if err != nil || json.Unmarshal(b, &m) != nil || m.URL != rawURL || m.validator() == "" {
		return 0, partMeta{}
	}
	return fi.Size(), m
}

func writeMeta(part string, m partMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := part + metaSuffix + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, diskFull(err, filepath.Dir(part)))
	}
	return os.Rename(tmp, part+metaSuffix)
}

// contentRange parses "bytes 100-199/200" into its first byte and the
// whole size (-1 for "*").
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

// receive writes body into part from offset on, reporting progress.
func (im *Importer) receive(ctx context.Context, body io.Reader, part string, offset, total int64, build string) (retry bool, err error) {
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false, err
	}
	pr := &progressWriter{ctx: ctx, im: im, file: filepath.Base(part), build: build, done: offset,
		total: total, start: im.clock(), startDone: offset}
	n, err := io.Copy(io.MultiWriter(f, pr), body)
	pr.emit(true)
	if err != nil {
		if werr := diskFull(err, filepath.Dir(part)); werr != err {
			return false, werr
		}
		return ctx.Err() == nil, err
	}
	if total >= 0 && offset+n != total {
		return true, fmt.Errorf("got %d of %d bytes", offset+n, total)
	}
	if err := f.Sync(); err != nil {
		return false, diskFull(err, filepath.Dir(part))
	}
	return false, f.Close()
}

// progressWriter counts bytes and reports at most every 200ms.
type progressWriter struct {
	ctx         context.Context
	im          *Importer
	file, build string
	done, total int64
	start       time.Time
	startDone   int64 // bytes that were already there when this attempt began
	last        time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	p.emit(false)
	return len(b), nil
}

func (p *progressWriter) emit(final bool) {
	now := p.im.clock()
	if !final && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	ev := ProgressEvent{Phase: "download", Build: p.build, File: p.file, Bytes: p.done, Total: p.total}
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		ev.Rate = float64(p.done-p.startDone) / secs
	}
	if ev.Rate > 0 && p.total > 0 {
		ev.ETA = time.Duration(float64(p.total-p.done) / ev.Rate * float64(time.Second))
	}
	p.im.report(p.ctx, ev)
	p.im.log().Debug("download progress", "file", p.file, "bytes", p.done, "total", p.total)
}

// claim marks part as being downloaded, so that two imports of the same
// file in this process do not write it at once. (Another process cannot:
// the store's lock keeps one rackboot per data dir.)
func (im *Importer) claim(part string) bool {
	im.dlMu.Lock()
	defer im.dlMu.Unlock()
	if im.downloading[part] {
		return false
	}
	if im.downloading == nil {
		im.downloading = map[string]bool{}
	}
	im.downloading[part] = true
	return true
}

func (im *Importer) release(part string) {
	im.dlMu.Lock()
	defer im.dlMu.Unlock()
	delete(im.downloading, part)
}
