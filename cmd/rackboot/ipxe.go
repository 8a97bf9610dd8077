package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
	"rackboot/internal/menuimport"
)

func ipxeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ipxe",
		Short: "Check iPXE scripts, and turn a hand-written menu into rackboot's configuration",
	}
	cmd.AddCommand(ipxeLintCommand(), ipxeImportCommand())
	return cmd
}

func ipxeLintCommand() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Report what would go wrong when iPXE runs a script",
		Long: `lint reads iPXE scripts and reports, as FILE:LINE: rule: message, what iPXE
would only show at boot time in front of a machine: a missing #!ipxe line,
goto to a label that does not exist, menu items without a label, "&&;" taken
for an operator, settings read but never set, "set x" with no value, lines
that can never run, multiboot command lines iPXE cuts at 512 bytes.

The exit status is 0 when no file has a problem, 1 otherwise.`,
		Example: `  rackboot ipxe lint /srv/www/ipxe/bootstrap.ipxe
  rackboot ipxe lint -o json menu.ipxe`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			type problem struct {
				File string `json:"file"`
				ipxe.Problem
			}
			var all []problem
			for _, name := range args {
				b, err := os.ReadFile(name)
				if err != nil {
					return err
				}
				for _, p := range ipxe.Lint(b) {
					all = append(all, problem{File: name, Problem: p})
				}
			}
			w := cmd.OutOrStdout()
			if out.json() {
				if all == nil {
					all = []problem{}
				}
				if err := writeJSON(w, all); err != nil {
					return err
				}
			} else {
				for _, p := range all {
					fmt.Fprintf(w, "%s:%d: %s: %s\n", p.File, p.Line, p.Rule, p.Message)
				}
			}
			if len(all) > 0 {
				return fmt.Errorf("%d %s in %s", len(all), plural(len(all), "problem", "problems"), strings.Join(args, ", "))
			}
			return nil
		},
	}
	out.register(cmd.Flags())
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func ipxeImportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Turn a hand-written iPXE menu into rackboot configuration",
		Long: `import reads a hand-written iPXE menu (the bootstrap.ipxe of a dnsmasq,
tftpd and nginx setup) and prints the rackboot configuration that gives the
same menu: menu title, default and timeout, SmartOS settings, and a target
for each Linux kernel, chain and ISO. Its comments say what each item became,
which of the script's lint problems rackboot's menu does not have, and what
could not be mapped and needs you (a file to copy, a value that differed
between items). Merge the output into your configuration file.

Items whose script forgot their label are matched to the script's unlabelled
blocks in order, and the output says so.`,
		Example: `  rackboot ipxe import /srv/www/ipxe/bootstrap.ipxe > imported.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r := menuimport.Import(filepath.Base(args[0]), b)
			text, err := importYAML(filepath.Base(args[0]), r)
			if err != nil {
				return err
			}
			if _, err := cmd.OutOrStdout().Write(text); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "rackboot: %d items mapped, %d lint problems fixed, %d things need you (see the comments)\n",
				len(r.Items), len(r.Fixed), len(r.Unmapped))
			return nil
		},
	}
	return cmd
}

// importYAML is the configuration with the import's report as comments.
func importYAML(name string, r menuimport.Result) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# rackboot configuration imported from %s by rackboot ipxe import.\n#\n", name)
	section := func(title string, lines []string) {
		fmt.Fprintf(&b, "# %s\n", title)
		if len(lines) == 0 {
			b.WriteString("#   (none)\n")
		}
		for _, l := range lines {
			for _, part := range strings.Split(l, "\n") {
				fmt.Fprintf(&b, "#   %s\n", strings.TrimRight(part, " "))
			}
		}
		b.WriteString("#\n")
	}
	section("Items:", r.Items)
	section(fmt.Sprintf("Fixed: the %d lint problems of %s (rackboot's generated menu has none):", len(r.Fixed), name), r.Fixed)
	section("Not mapped, needs you:", r.Unmapped)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(r.Config); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
