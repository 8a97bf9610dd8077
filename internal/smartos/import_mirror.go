package smartos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"
)

// errHTTPNotFound marks a 404 from getSmall.
var errHTTPNotFound = errors.New("not found")

// getSmall fetches a small text object (at most limit bytes).
func (im *Importer) getSmall(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := im.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", rawURL, errHTTPNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: server answered %s", rawURL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes", rawURL, limit)
	}
	return b, err
}

// LatestURL returns the URL of the mirror's newest platform tarball, the
// one Import("latest") would fetch, for a caller that hands the import to
// another process.
func (im *Importer) LatestURL(ctx context.Context) (string, error) {
	s, err := im.resolveLatest(ctx)
	return s.url, err
}

// resolveLatest asks the mirror which build is the newest. The mirror's
// "latest" object holds that build's directory; without it, the mirror's
// platform-latest.tgz is used and the build is read from the tarball.
func (im *Importer) resolveLatest(ctx context.Context) (source, error) {
	m := im.mirror()
	b, err := im.getSmall(ctx, m+"latest", 1024)
	if errors.Is(err, errHTTPNotFound) {
		u := m + "platform-latest.tgz"
		im.log().Warn("mirror has no latest object; using platform-latest.tgz", "mirror", m)
		return source{raw: u, url: u, name: "platform-latest.tgz"}, nil
	}
	if err != nil {
		return source{}, fmt.Errorf("ask the mirror for its latest build: %w (check the network or set another mirror)", err)
	}
	build := path.Base(strings.TrimSpace(string(b)))
	if !validBuild(build) {
		return source{}, fmt.Errorf("mirror %slatest names %q, which is not a build", m, strings.TrimSpace(string(b)))
	}
	name := "platform-" + build + ".tgz"
	u := m + url.PathEscape(build) + "/" + name
	im.log().Info("latest SmartOS build", "build", build, "url", u)
	return source{raw: u, url: u, name: name, build: build}, nil
}

// fileSums are the digests of an imported tarball.
type fileSums struct {
	sha256, md5 string
	size        int64
}

// verify hashes the tarball and checks it against the sums the user gave or,
// failing those, the mirror's md5sums.txt beside a downloaded tarball.
func (im *Importer) verify(ctx context.Context, s source, local string, opt ImportOptions) (fileSums, error) {
	sums, err := im.hashFile(ctx, local, s.build)
	if err != nil {
		return sums, err
	}
	type check struct{ algo, want, got, from string }
	var checks []check
	if opt.SHA256 != "" {
		checks = append(checks, check{"SHA-256", opt.SHA256, sums.sha256, "given"})
	}
	if opt.MD5 != "" {
		checks = append(checks, check{"MD5", opt.MD5, sums.md5, "given"})
	}
	if len(checks) == 0 && s.url != "" {
		if want, from := im.mirrorMD5(ctx, s); want != "" {
			checks = append(checks, check{"MD5", want, sums.md5, from})
		}
	}
	if len(checks) == 0 && s.path != "" {
		// A build downloaded by hand with its md5sums.txt.
		sumsFile := filepath.Join(filepath.Dir(s.path), "md5sums.txt")
		if b, err := os.ReadFile(sumsFile); err == nil {
			if want := findSum(b, s.name); want != "" {
				checks = append(checks, check{"MD5", want, sums.md5, "from " + sumsFile})
			}
		}
	}
	if len(checks) == 0 {
		im.log().Warn("no checksum to verify the tarball against; pass a SHA-256 to be sure", "file", s.name)
	}
	for _, c := range checks {
		if !strings.EqualFold(strings.TrimSpace(c.want), c.got) {
			return sums, fmt.Errorf("checksum mismatch for %s: %s expected %s (%s), got %s; "+
				"the file is corrupt or the sum belongs to another file (a download is deleted: run the import again)",
				s.name, c.algo, strings.ToLower(c.want), c.from, c.got)
		}
	}
	return sums, nil
}

// mirrorMD5 finds the tarball's line in md5sums.txt beside it.
func (im *Importer) mirrorMD5(ctx context.Context, s source) (sum, from string) {
	u, err := url.Parse(s.url)
	if err != nil {
		return "", ""
	}
	u.Path = path.Join(path.Dir(u.Path), "md5sums.txt")
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	b, err := im.getSmall(ctx, u.String(), 1<<20)
	if err != nil {
		im.log().Info("no checksum file beside the tarball", "url", u.String(), "err", err)
		return "", ""
	}
	sum = findSum(b, s.name)
	if sum == "" {
		im.log().Warn("checksum file does not list the tarball", "url", u.String(), "file", s.name)
		return "", ""
	}
	return sum, "from " + u.String()
}

// findSum reads md5sum-style lines ("<hex>  <name>", "<hex> *<name>") and
// BSD-style ones ("MD5 (<name>) = <hex>") and returns name's digest.
func findSum(b []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "MD5 ("); ok {
			n, sum, ok := strings.Cut(rest, ") = ")
			if ok && path.Base(n) == name && isHex(sum) {
				return strings.ToLower(sum)
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) == 2 && isHex(f[0]) && path.Base(strings.TrimPrefix(f[1], "*")) == name {
			return strings.ToLower(f[0])
		}
	}
	return ""
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) >= 32
}

// hashFile computes SHA-256 and MD5 of a file in one pass.
func (im *Importer) hashFile(ctx context.Context, p, build string) (fileSums, error) {
	f, err := os.Open(p)
	if err != nil {
		return fileSums{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileSums{}, err
	}
	sh, m5 := sha256.New(), md5.New()
	pr := &phaseReader{ctx: ctx, r: f, im: im,
		ev: ProgressEvent{Phase: "verify", Build: build, File: filepath.Base(p), Total: fi.Size()}}
	n, err := io.Copy(io.MultiWriter(sh, m5), pr)
	if err != nil {
		return fileSums{}, fmt.Errorf("read %s: %w", p, err)
	}
	return fileSums{sha256: hexSum(sh), md5: hexSum(m5), size: n}, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// rootPassword finds the build's single-user root password: published
// beside a downloaded tarball (or a local one, downloaded by hand with it),
// or shipped inside it as root.password.
func (im *Importer) rootPassword(ctx context.Context, s source, build, tmp string) string {
	names := []string{"SINGLE_USER_ROOT_PASSWORD.txt", "SINGLE_USER_ROOT_PASSWORD." + build + ".txt"}
	if s.path != "" {
		for _, name := range names {
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(s.path), name)); err == nil {
				if pw := cleanPassword(b); pw != "" {
					return pw
				}
			}
		}
	}
	if s.url != "" {
		u, err := url.Parse(s.url)
		if err == nil {
			dir := path.Dir(u.Path)
			for _, name := range names {
				v := *u
				v.Path, v.RawPath, v.RawQuery, v.Fragment = path.Join(dir, name), "", "", ""
				if b, err := im.getSmall(ctx, v.String(), 1024); err == nil {
					if pw := cleanPassword(b); pw != "" {
						return pw
					}
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(tmp, "platform", "root.password"))
	if err != nil {
		return ""
	}
	return cleanPassword(b)
}

// cleanPassword accepts one short line of printable characters.
func cleanPassword(b []byte) string {
	pw := strings.TrimSpace(string(b))
	if pw == "" || len(pw) > 128 || strings.ContainsFunc(pw, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return ""
	}
	return pw
}

// phaseReader reports progress and stops when ctx is done.
type phaseReader struct {
	ctx context.Context
	r   io.Reader
	im  *Importer
	ev  ProgressEvent
	n   int
	err error // the last read error other than io.EOF
}

func (p *phaseReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		p.err = err
	}
	p.ev.Bytes += int64(n)
	if p.n++; p.n%256 == 0 || err == io.EOF {
		p.im.report(p.ctx, p.ev)
	}
	return n, err
}
