package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("# lfs\nkeep-compressed = false # disk-tight\ninsecure-registries = [\"localhost:5000\", \"10.0.0.1:5000\"]\n"), 0o644)
	c, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeepCompressed || !reflect.DeepEqual(c.InsecureRegistries, []string{"localhost:5000", "10.0.0.1:5000"}) {
		t.Fatalf("got %+v", c)
	}
	os.WriteFile(p, []byte("bogus = 1\n"), 0o644)
	if _, err := Read(p); err == nil {
		t.Fatal("unknown key accepted")
	}
	os.WriteFile(p, []byte("keep-compressed = maybe\n"), 0o644)
	if _, err := Read(p); err == nil {
		t.Fatal("bad bool accepted")
	}
}
