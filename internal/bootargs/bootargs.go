// Package bootargs is the one vocabulary for extra SmartOS -B pairs: the
// configuration's boot_args, a rule's and a machine's, and the menu's all
// use KV, and every layering of them goes through Merge.
package bootargs

// KV is one extra -B property, such as {"hostname", "cn1"}. Its JSON form
// is what the API and the store use.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Merge returns base with over's pairs applied: a key already in base gets
// over's value in its place, a new key is appended. base is not changed.
func Merge(base, over []KV) []KV {
	if len(over) == 0 {
		return base
	}
	out := append([]KV(nil), base...)
	for _, kv := range over {
		found := false
		for i := range out {
			if out[i].Key == kv.Key {
				out[i].Value, found = kv.Value, true
			}
		}
		if !found {
			out = append(out, kv)
		}
	}
	return out
}
