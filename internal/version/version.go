// Package version is rackboot's version, set at build time:
//
//	go build -ldflags "-X rackboot/internal/version.Version=..."
//
// It is the one link-time value; the CLI and the server read it.
package version

// Version is "dev" unless the build sets it.
var Version = "dev"
