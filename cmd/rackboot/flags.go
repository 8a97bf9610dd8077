package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"rackboot/internal/config"
)

// configFlags are the flags that mirror configuration keys.
type configFlags struct {
	path                                          string
	iface, dataDir, httpAddr, tftpAddr, advertise string
	dhcpMode, ipxeDir, logLevel                   string
	name                                          string // serve only (registerName)
}

func (f *configFlags) register(fs *pflag.FlagSet) {
	d := config.Default()
	fs.StringVar(&f.path, "config", "", "YAML configuration file (keys below)")
	fs.StringVar(&f.iface, "interface", "", "network interface the machines boot on")
	fs.StringVar(&f.dataDir, "data-dir", d.DataDir, "data directory: platforms under smartos/<build>/platform/ and your files under public/ are served; the store and API token beside them are not")
	fs.StringVar(&f.httpAddr, "http-addr", d.HTTPAddr, "HTTP listen address")
	fs.StringVar(&f.tftpAddr, "tftp-addr", d.TFTPAddr, "TFTP listen address")
	fs.StringVar(&f.advertise, "advertise", "", "IPv4 address clients reach rackboot on (default: the interface's first)")
	fs.StringVar(&f.dhcpMode, "dhcp-mode", d.DHCP.Mode, "proxy (answer PXE clients beside the network's DHCP server), off, or full (be the DHCP server: needs dhcp.subnets in --config)")
	fs.StringVar(&f.ipxeDir, "ipxe-dir", "", "directory with iPXE builds, searched before /usr/lib/ipxe and /usr/share/ipxe")
	fs.StringVar(&f.logLevel, "log-level", d.LogLevel, "debug, info, warn or error")
}

// registerName adds --name (server.name), for serve.
func (f *configFlags) registerName(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "this server's name among the servers sharing one store (default: the host name)")
}

// load builds the configuration: defaults, then the file, then the flags
// the user set.
func (f *configFlags) load(cmd *cobra.Command) (config.Config, error) {
	c := config.Default()
	if f.path != "" {
		if err := c.Load(f.path); err != nil {
			return c, err
		}
	}
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) {
			*dst = v
		}
	}
	set("interface", &c.Interface, f.iface)
	set("data-dir", &c.DataDir, f.dataDir)
	set("http-addr", &c.HTTPAddr, f.httpAddr)
	set("tftp-addr", &c.TFTPAddr, f.tftpAddr)
	set("advertise", &c.Advertise, f.advertise)
	set("dhcp-mode", &c.DHCP.Mode, f.dhcpMode)
	set("ipxe-dir", &c.IPXEDir, f.ipxeDir)
	set("log-level", &c.LogLevel, f.logLevel)
	set("name", &c.Server.Name, f.name)
	if err := c.Validate(); err != nil {
		if f.path != "" {
			return c, fmt.Errorf("config %s: %w", f.path, err)
		}
		return c, err
	}
	return c, nil
}

// logLevel is log_level, which config has validated.
func logLevel(level string) slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return l
}
