package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"rackboot/internal/api"
	"rackboot/internal/bootargs"
	"rackboot/internal/events"
	"rackboot/internal/machines"
	"rackboot/internal/textview"
)

func machinesCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "machines",
		Short: "List machines and decide what each boots (through a running rackboot's API)",
		Long: `machines shows every machine that has network-booted from rackboot (or that
was set up before its first boot), with its live boot stage, and changes
what a machine boots: its default menu item, a one-time choice for its next
boot, extra SmartOS -B pairs, its own root password, or no menu at all;
and, through each machine's BMC (IPMI lanplus), powers machines on, off and
through a cycle, and boots one into an item now (bmc, power, boot --now).

Changes need the API token (--token, $RACKBOOT_TOKEN, or the api-token file
in the data directory on the server's host). Group defaults live in the
configuration's machines.rules (see rackboot serve --help).`,
		Example: `  rackboot machines
  rackboot machines show 52:54:00:12:34:56
  rackboot machines set 52:54:00:12:34:56 --name cn7 --label rack=7 --boot-arg hostname=cn7
  rackboot machines boot-once 52:54:00:12:34:56 noimport
  rackboot machines boot 52:54:00:12:34:56 --item smartos-noimport --now
  rackboot machines rm 52:54:00:12:34:56 --server http://10.0.0.5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return machinesList(cmd, &f) },
	}
	f.register(cmd)
	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: "List machines", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return machinesList(cmd, &f) }},
		machinesShowCommand(&f), machinesSetCommand(&f), machinesBootOnceCommand(&f),
		machinesRemoveCommand(&f), machinesMenuCommand(&f),
	)
	cmd.AddCommand(machinesPowerCommands(&f)...) // machines_power.go
	return cmd
}

func machinesList(cmd *cobra.Command, f *clientFlags) error {
	c, err := f.client(cmd.Context())
	if err != nil {
		return err
	}
	list, err := c.Machines(cmd.Context())
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(cmd.OutOrStdout(), list)
	}
	return textview.Machines(cmd.OutOrStdout(), list)
}

func machinesShowCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show MAC",
		Short: "Show one machine: its settings, where they come from, its boots and its timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			m, err := c.Machine(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			evs, err := c.MachineEvents(cmd.Context(), m.MAC)
			if err != nil {
				return err
			}
			if f.json() {
				return writeJSON(cmd.OutOrStdout(), struct {
					api.MachineView
					Events []events.Event `json:"events"`
				}{m, evs})
			}
			textview.Machine(cmd.OutOrStdout(), m, evs)
			showBMCLine(cmd.Context(), cmd.OutOrStdout(), c, m.MAC) // machines_power.go
			return nil
		},
	}
}

// setFlags are the flags of `machines set`: what a patch may change.
type setFlags struct {
	name, def, rootPassword, rootShadow, skipMenu string
	secureBoot                                    string
	labels, unlabels, bootArgs, unsetArgs         []string
}

func machinesSetCommand(f *clientFlags) *cobra.Command {
	var sf setFlags
	cmd := &cobra.Command{
		Use:   "set MAC",
		Short: "Change a machine's settings (a new MAC is set up before its first boot)",
		Long: `set changes only what its flags name. An empty value ("") clears a setting,
and the machine falls back to its rules and the configuration.

  --default ITEM      menu item its menu starts on: smartos-<build>[-noimport],
                      a build ("20250214T000000Z"), smartos, memtest, exit ...
  --skip-menu yes     boot the default at once (no, or inherit from the rules)
  --secure-boot yes   it boots UEFI with Secure Boot on: it gets the signed
                      shim and GRUB, and a grub.cfg of its menu, not iPXE
  --boot-arg k=v      extra SmartOS -B pair, merged by name (repeatable)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := sf.patch(cmd.Flags())
			if err != nil {
				return err
			}
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			m, err := c.PatchMachine(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			if f.json() {
				return writeJSON(cmd.OutOrStdout(), m)
			}
			textview.Machine(cmd.OutOrStdout(), m, nil)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sf.name, "name", "", "a name for the machine (shown in its menu title)")
	fl.StringVar(&sf.def, "default", "", "the menu item it boots by default")
	fl.StringArrayVar(&sf.labels, "label", nil, "label key=value (repeatable); rules match on labels")
	fl.StringArrayVar(&sf.unlabels, "unlabel", nil, "remove the label with this key (repeatable)")
	fl.StringArrayVar(&sf.bootArgs, "boot-arg", nil, "SmartOS -B pair name=value (repeatable)")
	fl.StringArrayVar(&sf.unsetArgs, "unset-boot-arg", nil, "remove the machine's -B pair with this name (repeatable)")
	fl.StringVar(&sf.rootPassword, "root-password", "", "its own SmartOS root password (the server keeps only the hash)")
	fl.StringVar(&sf.rootShadow, "root-shadow", "", "its own SmartOS root_shadow hash")
	fl.StringVar(&sf.skipMenu, "skip-menu", "", "yes: boot the default at once; no; inherit: as the rules say")
	fl.StringVar(&sf.secureBoot, "secure-boot", "", "yes: UEFI with Secure Boot on (signed shim and GRUB, not iPXE); no; inherit: as the rules say")
	return cmd
}

// patch is the change the flags the user set ask for; a flag left out
// changes nothing, an empty one clears its setting.
func (sf *setFlags) patch(fl *pflag.FlagSet) (machines.Patch, error) {
	str := func(flag, v string) machines.Opt[string] {
		switch {
		case !fl.Changed(flag):
			return machines.Opt[string]{}
		case v == "":
			return machines.Null[string]()
		}
		return machines.Value(v)
	}
	p := machines.Patch{Name: str("name", sf.name), Default: str("default", sf.def), RootShadow: str("root-shadow", sf.rootShadow),
		RootPassword: sf.rootPassword, RemoveBootArgs: sf.unsetArgs}
	var err error
	if p.Labels, err = labelPatch(sf.labels, sf.unlabels); err != nil {
		return p, err
	}
	var kvs []bootargs.KV
	for _, a := range sf.bootArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return p, fmt.Errorf("--boot-arg %q: write name=value", a)
		}
		kvs = append(kvs, bootargs.KV{Key: k, Value: v})
	}
	if len(kvs) > 0 {
		p.BootArgs = machines.Value(kvs)
	}
	if p.SkipMenu, err = yesNoInherit(fl, "skip-menu", sf.skipMenu); err != nil {
		return p, err
	}
	if p.SecureBoot, err = yesNoInherit(fl, "secure-boot", sf.secureBoot); err != nil {
		return p, err
	}
	return p, nil
}

// yesNoInherit reads a yes/no/inherit flag into a patch field.
func yesNoInherit(fl *pflag.FlagSet, flag, v string) (machines.Opt[bool], error) {
	if !fl.Changed(flag) {
		return machines.Opt[bool]{}, nil
	}
	switch v {
	case "yes", "true":
		return machines.Value(true), nil
	case "no", "false":
		return machines.Value(false), nil
	case "inherit", "":
		return machines.Null[bool](), nil
	}
	return machines.Opt[bool]{}, fmt.Errorf("--%s %q: want yes, no or inherit", flag, v)
}

// labelPatch is --label key=value (set) and --unlabel key (remove).
func labelPatch(set, remove []string) (map[string]*string, error) {
	if len(set)+len(remove) == 0 {
		return nil, nil
	}
	out := map[string]*string{}
	for _, l := range set {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("--label %q: write key=value", l)
		}
		out[k] = &v
	}
	for _, k := range remove {
		out[k] = nil
	}
	return out, nil
}

func machinesBootOnceCommand(f *clientFlags) *cobra.Command {
	var clear bool
	cmd := &cobra.Command{
		Use:   "boot-once MAC ITEM",
		Short: "Choose what the machine's next boot boots, once; then it is back to its default",
		Long: `boot-once sets the menu item of the machine's next boot only: the menu it
is served starts on ITEM, and serving it clears the choice. ITEM is a menu
item id, a platform build, or "noimport" (its default SmartOS build without
importing the zpool: a rescue boot).`,
		Example: `  rackboot machines boot-once 52:54:00:12:34:56 noimport
  rackboot machines boot-once 52:54:00:12:34:56 --clear`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			item := ""
			switch {
			case clear && len(args) == 2:
				return fmt.Errorf("give an ITEM or --clear, not both")
			case !clear && len(args) == 1:
				return fmt.Errorf("say what the next boot boots (e.g. noimport), or --clear")
			case len(args) == 2:
				item = args[1]
			}
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			m, err := c.SetBootOnce(cmd.Context(), args[0], item)
			if err != nil {
				return err
			}
			if f.json() {
				return writeJSON(cmd.OutOrStdout(), m)
			}
			if item == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: no boot-once; its next boot boots %s\n", m.MAC, textview.DefaultItem(m))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: its next boot boots %s, then %s again\n", m.MAC, item, textview.DefaultItem(m))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clear, "clear", false, "cancel a boot-once that has not been used")
	return cmd
}

func machinesRemoveCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm MAC",
		Short: "Forget a machine: its settings and history (it is registered again if it boots)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.DeleteMachine(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "rackboot: %s forgotten\n", args[0])
			return nil
		},
	}
}

func machinesMenuCommand(f *clientFlags) *cobra.Command {
	var arch string
	cmd := &cobra.Command{
		Use:   "menu MAC",
		Short: "Print the iPXE menu the machine would get now (its boot-once is not used up)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			s, err := c.MachineMenu(cmd.Context(), args[0], arch)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), s)
			return err
		},
	}
	cmd.Flags().StringVar(&arch, "arch", "", "firmware: bios, efi-x86_64, ... (default: the one it last booted with)")
	return cmd
}
