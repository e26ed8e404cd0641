// Package optcfg sets configuration fields by name. The reliability suite
// runs against builds that may not have every option yet (a frame timeout,
// pending-handshake bounds, acknowledged delivery): naming a field that
// the build lacks is reported as absent, so a check that needs it says
// "not run" instead of failing to compile or silently testing nothing.
package optcfg

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ErrAbsent reports a field this build's configuration does not have.
var ErrAbsent = errors.New("option absent in this build")

// Set assigns value, parsed for the field's type, to the field called name
// in the struct cfg points to (promoted fields of embedded structs too).
// Durations use time.ParseDuration, slices are comma separated.
func Set(cfg any, name, value string) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("optcfg: %T is not a pointer to a struct", cfg)
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() || !f.CanSet() {
		return fmt.Errorf("%s: %w", name, ErrAbsent)
	}
	if err := assign(f, value); err != nil {
		return fmt.Errorf("option %s=%q: %w", name, value, err)
	}
	return nil
}

// Has reports whether the struct type of cfg has a settable field name.
func Has(cfg any, name string) bool {
	v := reflect.ValueOf(cfg)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	f := v.FieldByName(name)
	return f.IsValid()
}

func assign(f reflect.Value, value string) error {
	if f.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(value)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(value, 0, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(value, 0, 64)
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.String:
		f.SetString(value)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported slice type %s", f.Type())
		}
		parts := strings.Split(value, ",")
		s := reflect.MakeSlice(f.Type(), 0, len(parts))
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				s = reflect.Append(s, reflect.ValueOf(p).Convert(f.Type().Elem()))
			}
		}
		f.Set(s)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// Multi collects repeated -opt Name=value flags (flag.Value).
type Multi []string

// String lists the collected options.
func (m *Multi) String() string { return strings.Join(*m, " ") }

// Set appends one Name=value.
func (m *Multi) Set(s string) error {
	if !strings.Contains(s, "=") {
		return fmt.Errorf("option %q is not Name=value", s)
	}
	*m = append(*m, s)
	return nil
}

// Apply sets every collected option on cfg. It returns the names absent in
// this build (not an error: the caller reports them) and the first real
// error.
func (m Multi) Apply(cfg any) (absent []string, err error) {
	for _, kv := range m {
		name, value, _ := strings.Cut(kv, "=")
		switch e := Set(cfg, name, value); {
		case errors.Is(e, ErrAbsent):
			absent = append(absent, name)
		case e != nil:
			return absent, e
		}
	}
	return absent, nil
}
