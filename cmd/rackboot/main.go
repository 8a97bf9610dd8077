// Command rackboot network-boots racks of machines: proxyDHCP (or full
// DHCP), TFTP and HTTP in one process, with a generated iPXE menu of the
// SmartOS platforms in its data directory. This package only wires; the
// packages under internal/ decide.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"rackboot/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "rackboot:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "rackboot",
		Short: "Network-boot racks of machines: proxyDHCP, TFTP, HTTP and an iPXE menu in one binary",
		Long: `rackboot network-boots machines beside the DHCP server you already have.

PXE firmware asks the network's DHCP server for an address, and rackboot's
proxyDHCP tells it where to get iPXE (undionly.kpxe for BIOS, snponly.efi for
UEFI) over TFTP. iPXE then asks again, and rackboot hands it the URL of a menu
generated from the SmartOS platforms in the data directory and the boot
targets of its configuration (Linux installers, ISOs, other menus, your
scripts), so iPXE never loads itself in a loop and needs no embedded script.
Machines with UEFI Secure Boot on get the distribution's signed shim and GRUB
instead, with a grub.cfg of their menu.

It can also be the network's DHCP server (serve --dhcp-mode full), answer iPXE's
IPv6 router solicitations so that it does not wait for a router, power machines
and boot them into an item now through their BMCs (machines power, machines boot
--now), follow every boot to the running OS (events, the dashboard), and share
its state with other rackboot servers on etcd (store.backend: etcd).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	root.AddCommand(serveCommand(), menuCommand())
	root.AddCommand(platformCommand())
	root.AddCommand(machinesCommand(), eventsCommand(), tokenCommand())
	root.AddCommand(leasesCommand(), serversCommand())
	root.AddCommand(benchCommand())
	root.AddCommand(ipxeCommand(), osCommand())
	root.AddCommand(versionCommand(), manPagesCommand())
	root.SetVersionTemplate(version.Get().String()) // --version says what `rackboot version` says
	return root
}
