package config

// Value is one setting as the environment gives it, for display (check-config).
type Value struct {
	Var string
	// Value is what Load reads: the environment's value, else the default; a set
	// secret is shown as "(set, redacted)", an empty value as "".
	Value string
	// FromEnv tells that the environment set it (else it is the default).
	FromEnv bool
	Secret  bool
}

// Redacted is what Effective shows instead of a secret's value.
const Redacted = "(set, redacted)"

// Effective lists every setting in --help order with the value Load would take from
// getenv (without flags). Secrets are never returned.
func Effective(getenv func(string) string) []Value {
	out := make([]Value, 0, len(settings))
	for _, s := range settings {
		v := Value{Var: s.env, Value: getenv(s.env), Secret: s.secret}
		v.FromEnv = v.Value != ""
		if !v.FromEnv {
			v.Value = s.def
		}
		if s.secret && v.Value != "" {
			v.Value = Redacted
		}
		out = append(out, v)
	}
	return out
}
