package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"rackboot/internal/version"
)

// manPagesCommand writes a man page per command (rackboot.1,
// rackboot-serve.1, ...) for the packages; hidden, since users read them
// with man(1) instead. Shell completions come from cobra's own
// `rackboot completion`.
func manPagesCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "man-pages DIR",
		Short:  "Write the man pages into DIR (for packaging)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true // the pages are reproducible: no generation date
			header := &doc.GenManHeader{Title: "RACKBOOT", Section: "1", Source: "rackboot " + version.Version,
				Manual: "rackboot manual"}
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	}
}
