package ipxe

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Command is one iPXE command whose arguments are single words: a URL, a
// kernel argument, a label. Build it with the functions below; OrGoto adds
// the failure branch.
type Command struct {
	Name   string
	Args   []string
	OnFail string // label to go to if the command fails ("" = the script ends)
}

// OrGoto returns c followed by "|| goto label".
func (c Command) OrGoto(label string) Command {
	c.OnFail = label
	return c
}

func (c Command) render() (string, error) {
	if err := checkToken(c.Name, false); err != nil {
		return "", err
	}
	for _, a := range c.Args {
		if err := checkToken(a, true); err != nil {
			return "", errors.New(c.Name + ": " + err.Error())
		}
	}
	return withOnFail(strings.Join(append([]string{c.Name}, c.Args...), " "), c.OnFail)
}

// Kernel is "kernel <url> [args...]": fetch and select the image to boot.
// A multiboot kernel sees its command line as "<url> <args>".
func Kernel(url string, args ...string) Command {
	return Command{Name: "kernel", Args: append([]string{url}, args...)}
}

// Module is "module <url> [args...]": fetch an image; a multiboot kernel
// receives it as a module whose string is "<url> <args>".
func Module(url string, args ...string) Command {
	return Command{Name: "module", Args: append([]string{url}, args...)}
}

// Initrd is "initrd <url> [args...]", the same command as module under the
// name Linux users expect.
func Initrd(url string, args ...string) Command {
	return Command{Name: "initrd", Args: append([]string{url}, args...)}
}

// Chain is "chain [options] <url> [args...]": fetch and boot at once. Options
// such as "--replace" and "--autofree" go before the URL.
func Chain(url string, args ...string) Command {
	return Command{Name: "chain", Args: append([]string{url}, args...)}
}

// Boot is "boot": boot the selected image.
func Boot() Command { return Command{Name: "boot"} }

// Imgfree is "imgfree": forget every image fetched so far. Run it before
// fetching a kernel so that leftovers of a failed attempt are not handed to
// the next kernel as extra modules. The running script is safe: image_exec
// (src/core/image.c) holds a reference to it while it runs.
func Imgfree() Command { return Command{Name: "imgfree"} }

// Goto is "goto <label>"; label may be an expansion such as "${target}".
func Goto(label string) Command { return Command{Name: "goto", Args: []string{label}} }

// Shell is "shell": the interactive iPXE shell; "exit" there returns here.
func Shell() Command { return Command{Name: "shell"} }

// Reboot is "reboot".
func Reboot() Command { return Command{Name: "reboot"} }

// Exit is "exit": leave iPXE, so that the firmware tries its next boot device.
func Exit() Command { return Command{Name: "exit"} }

// Clear is "clear <setting>".
func Clear(setting string) Command { return Command{Name: "clear", Args: []string{setting}} }

// Sleep is "sleep <seconds>", rounded up to whole seconds.
func Sleep(d time.Duration) Command {
	s := int64((d + time.Second - 1) / time.Second)
	return Command{Name: "sleep", Args: []string{strconv.FormatInt(s, 10)}}
}

// Echo is "echo <text>". Runs of spaces in text collapse to one.
func Echo(text string) Command {
	return Command{Name: "echo", Args: textArgs(text)}
}

// Prompt is "prompt [--timeout <ms>] <text>": wait for a key. It fails when
// the timeout expires, so give it OrGoto, or follow it with "||".
func Prompt(timeout time.Duration, text string) Command {
	var args []string
	if timeout > 0 {
		args = append(args, "--timeout", strconv.FormatInt(Millis(timeout), 10))
	}
	return Command{Name: "prompt", Args: append(args, textArgs(text)...)}
}

// textArgs splits text into words, putting "--" first when the text starts
// with '-' so that iPXE's option parser does not read it as an option.
func textArgs(text string) []string {
	words := strings.Fields(text)
	if len(words) > 0 && strings.HasPrefix(words[0], "-") {
		words = append([]string{"--"}, words...)
	}
	return words
}
