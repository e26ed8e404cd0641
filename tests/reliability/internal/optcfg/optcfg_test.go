package optcfg

import (
	"errors"
	"testing"
	"time"
)

type inner struct {
	Timeout time.Duration
	Names   []string
}

type config struct {
	inner
	Limit int
	On    bool
}

func TestSetPromotedAndTyped(t *testing.T) {
	var c config
	m := Multi{"Timeout=1500ms", "Names=a, b", "Limit=42", "On=true", "Missing=1"}
	absent, err := m.Apply(&c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 1500*time.Millisecond || len(c.Names) != 2 || c.Names[1] != "b" || c.Limit != 42 || !c.On {
		t.Fatalf("got %+v", c)
	}
	if len(absent) != 1 || absent[0] != "Missing" {
		t.Fatalf("absent %v, want [Missing]", absent)
	}
	if err := Set(&c, "Missing", "1"); !errors.Is(err, ErrAbsent) {
		t.Fatalf("Set of a missing field: %v", err)
	}
	if err := Set(&c, "Limit", "x"); err == nil || errors.Is(err, ErrAbsent) {
		t.Fatalf("a bad value must be an error of its own, got %v", err)
	}
	if !Has(c, "Timeout") || Has(c, "Nope") {
		t.Fatal("Has is wrong")
	}
}
