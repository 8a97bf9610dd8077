package smartos

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"rackboot/internal/download"
)

// downloadAttempts bounds how often one Import retries a cut connection.
const downloadAttempts = 4

// download fetches rawURL into part, resuming what an earlier attempt left
// there (internal/download: HTTP Range with If-Range, so a changed file is
// fetched anew), reporting progress for build. A part is written by one
// import at a time.
func (im *Importer) download(ctx context.Context, rawURL, part, build string) error {
	if !im.claim(part) {
		return fmt.Errorf("download %s: another import is already downloading it; wait for that one", rawURL)
	}
	defer im.release(part)
	dir := filepath.Dir(part)
	f := download.Fetcher{
		Client: im.client(), Attempts: downloadAttempts, RetryDelay: im.retryDelay, Logger: im.log(),
		NotFound: "check the URL or the build name",
		FSError:  func(err error) error { return diskFull(err, dir) },
		Copy: func(ctx context.Context, dst io.Writer, body io.Reader, offset, total int64) (int64, error) {
			pr := &progressWriter{ctx: ctx, im: im, file: filepath.Base(part), build: build, done: offset,
				total: total, start: im.clock(), startDone: offset}
			n, err := io.Copy(io.MultiWriter(dst, pr), body)
			pr.emit(true)
			return n, err
		},
	}
	return f.Fetch(ctx, rawURL, part)
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
