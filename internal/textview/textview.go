// Package textview is how the CLI shows machines, platforms, servers and
// leases as text: the tables and "field value" blocks of the commands'
// --output text. It renders the API's views (api, cluster, lease, events)
// and decides nothing; --output json is the views themselves.
package textview

// orDash is s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// yesOrDash is "yes" for true, "-" for false.
func yesOrDash(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
