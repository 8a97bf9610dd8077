//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium is Debian's chromium, driven headless by the browser tests.
const Chromium = "/usr/bin/chromium"

// StartBrowser starts a headless Chromium inside ns (so it reaches the lab
// network as the machines do) and returns a chromedp context for one tab;
// the browser ends with ctx or at test cleanup. chromedp talks to Chromium
// over a pipe (--remote-debugging-pipe, file descriptors 3 and 4), which
// `ip netns exec` passes on: no DevTools port crosses namespaces.
func StartBrowser(ctx context.Context, t testing.TB, ns Netns, profileDir string) context.Context {
	t.Helper()
	RequireFiles(t, Chromium)
	wrapper := filepath.Join(profileDir, "chromium-in-netns")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns.Name, Chromium)
	if err := os.MkdirAll(profileDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(wrapper),
		// A fresh profile per test; no sandbox: root in a test namespace.
		chromedp.UserDataDir(filepath.Join(profileDir, "profile")),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The lab has no route out: keep Chromium from trying.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	return bctx
}

// Screenshot saves a PNG of the whole page at path.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
