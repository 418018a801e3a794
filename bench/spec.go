package bench

import (
	"fmt"
	"strings"
)

// GeneratorVersion names the generator's output: the same version, spec and
// seed always give the same layer tars, byte for byte. Any change to what
// the generator writes bumps it (TestGeneratorGolden holds it to that), so
// cached datasets and published results never mix two generators.
const GeneratorVersion = 1

// Spec says what the generator makes and how much each workload does.
type Spec struct {
	Name        string `json:"name"` // small, medium, large, or custom
	Seed        uint64 `json:"seed"`
	Files       int    `json:"files"`         // regular files (and hard links) the merged tree shows, about
	Dirs        int    `json:"dirs"`          // directories of the tree, about
	MaxFileSize int64  `json:"max_file_size"` // sizes are log-uniform from 16 bytes to this
	BigFile     int64  `json:"big_file_bytes"`
	BigDir      int    `json:"big_dir_entries"`
	UntarBytes  int64  `json:"untar_bytes"`
	Creates     int    `json:"creates"`     // files create-delete makes and removes
	OpenWrites  int    `json:"open_writes"` // lower files open-write opens for writing
	RandReads   int    `json:"rand_reads"`  // 4 KiB reads rand-read makes
}

const (
	kiB = 1 << 10
	miB = 1 << 20
	giB = 1 << 30
)

// Sizes lists the presets, smallest first.
var Sizes = []string{"small", "medium", "large"}

// SpecFor returns a preset: medium is a rootfs-sized tree (about 20,000
// files in 2,000 directories) with a 1 GiB file and a 100,000-entry
// directory; small is about a tenth of it, for CI; large has ten times
// medium's file counts.
func SpecFor(size string, seed uint64) (Spec, error) {
	medium := Spec{Name: "medium", Seed: seed, Files: 20000, Dirs: 2000, MaxFileSize: 256 * kiB,
		BigFile: giB, BigDir: 100000, UntarBytes: 300 * miB, Creates: 10000, OpenWrites: 1000, RandReads: 25600}
	switch size {
	case "medium":
		return medium, nil
	case "small":
		return Spec{Name: "small", Seed: seed, Files: 2000, Dirs: 200, MaxFileSize: 256 * kiB,
			BigFile: 100 * miB, BigDir: 10000, UntarBytes: 30 * miB, Creates: 1000, OpenWrites: 100, RandReads: 2560}, nil
	case "large":
		l := medium
		l.Name, l.Files, l.Dirs, l.BigDir = "large", 10*medium.Files, 10*medium.Dirs, 10*medium.BigDir
		return l, nil
	}
	return Spec{}, fmt.Errorf("bench: size %q: %w (one of %s)", size, ErrUsage, strings.Join(Sizes, ", "))
}

// key names the spec's dataset in the cache.
func (s Spec) key() string {
	return fmt.Sprintf("%s-f%d-d%d-m%d-b%d-n%d-u%d-seed%d-g%d", s.Name, s.Files, s.Dirs, s.MaxFileSize,
		s.BigFile, s.BigDir, s.UntarBytes, s.Seed, GeneratorVersion)
}
