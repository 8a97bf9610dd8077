package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/server"
)

func menuCommand() *cobra.Command {
	var (
		f         configFlags
		mac, arch string
		base      string
		features  []string
		grub      bool
	)
	cmd := &cobra.Command{
		Use:   "menu",
		Short: "Print the iPXE menu a machine would get",
		Long: `menu prints the iPXE script that rackboot serve would send to the machine
with the given MAC address and firmware, from the same configuration and
data directory. Pipe it to a file to review it, or diff it after a change.

--ipxe-feature names feature flags the machine's iPXE advertises in its DHCP
requests (option 175), as rackboot would have seen them: a UEFI x86_64 iPXE
with multiboot2 (TritonDataCenter/ipxe) is offered SmartOS.

--grub prints instead the grub.cfg a machine marked secure_boot gets from
rackboot (its signed GRUB runs it): the targets it can boot under Secure Boot.`,
		Example: `  rackboot menu --mac 52:54:00:12:34:56 --arch bios
  rackboot menu --config /etc/rackboot.yaml --mac 52:54:00:12:34:56 --arch efi-x86_64
  rackboot menu --mac 52:54:00:12:34:56 --arch efi-x86_64 --ipxe-feature multiboot2
  rackboot menu --mac 52:54:00:12:34:56 --arch efi-x86_64 --grub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			hw, err := net.ParseMAC(mac)
			if err != nil {
				return fmt.Errorf("--mac: %w", err)
			}
			a, err := pxe.ParseArch(arch)
			if err != nil {
				return fmt.Errorf("--arch: %w", err)
			}
			fs, err := pxe.ParseFeatureList(strings.Join(features, ","))
			if err != nil {
				return fmt.Errorf("--ipxe-feature: %w", err)
			}
			r, err := server.Menu(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if base == "" {
				base = "http://" + cfg.Advertise
				if cfg.Advertise == "" {
					base = "http://rackboot.invalid"
				}
			}
			if err := r.CheckStart(base); err != nil {
				return err
			}
			render := r.Render
			if grub {
				render = r.RenderGRUB
			}
			script, err := render(cmd.Context(), menu.Request{MAC: hw, Arch: a, Features: fs, BaseURL: base})
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(script)
			return err
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&mac, "mac", "", "the machine's MAC address (required)")
	cmd.Flags().StringVar(&arch, "arch", "bios", "firmware: bios, efi-x86_64, efi-i386, efi-arm64, efi-arm32")
	cmd.Flags().StringVar(&base, "base-url", "", "URL prefix of rackboot's HTTP server in the script (default from --advertise)")
	cmd.Flags().StringSliceVar(&features, "ipxe-feature", nil, "a feature the machine's iPXE advertises (DHCP option 175): multiboot2, https, efi, ... or a tag such as 0x2a; repeat it or give a comma list")
	cmd.Flags().BoolVar(&grub, "grub", false, "print the grub.cfg of a Secure Boot machine instead of the iPXE menu")
	cmd.MarkFlagRequired("mac")
	return cmd
}
