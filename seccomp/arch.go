package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// arch is one ABI a filter has a section for.
type arch struct {
	scmp specs.Arch
	// native is libseccomp's name, the one includes/excludes.arches use.
	native string
	// audit is what the kernel puts in seccomp_data.arch. x32 shares
	// x86_64's; its syscall numbers carry x32SyscallBit instead.
	audit uint32
	// bits32: the ABI's syscall arguments are 32 bits; only the low
	// word of each is compared (as libseccomp does), so a value with
	// high bits set is cut to its low 32.
	bits32 bool
	table  map[string]uint32
}

var (
	archX86_64  = &arch{specs.ArchX86_64, "amd64", unix.AUDIT_ARCH_X86_64, false, syscallsX86_64}
	archX86     = &arch{specs.ArchX86, "x86", unix.AUDIT_ARCH_I386, true, syscallsX86}
	archX32     = &arch{specs.ArchX32, "x32", unix.AUDIT_ARCH_X86_64, false, syscallsX32}
	archAArch64 = &arch{specs.ArchAARCH64, "arm64", unix.AUDIT_ARCH_AARCH64, false, syscallsAArch64}
)

// byGOARCH maps a GOARCH to its native ABI and the ABIs its kernel can
// also run (a profile's archMap names them; only these have tables).
// arm64's 32-bit compat ABI (SCMP_ARCH_ARM) has no table here: its
// processes meet the bad-arch action.
var byGOARCH = map[string]struct {
	native *arch
	subs   []*arch
}{
	"amd64": {archX86_64, []*arch{archX86, archX32}},
	"arm64": {archAArch64, nil},
}

// nativeNames are libseccomp's architecture names, which
// includes/excludes.arches use; a name outside this list is a typo.
var nativeNames = map[string]bool{
	"x86": true, "amd64": true, "x32": true, "arm": true, "arm64": true,
	"loongarch64": true, "m68k": true, "mips": true, "mips64": true,
	"mips64n32": true, "mipsel": true, "mipsel64": true, "mipsel64n32": true,
	"ppc": true, "ppc64": true, "ppc64le": true, "riscv64": true,
	"s390": true, "s390x": true, "parisc": true, "parisc64": true,
	"sh": true, "sheb": true,
}

// scmpArches are the SCMP_ARCH_ names a profile may list.
var scmpArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
	specs.ArchARM: true, specs.ArchAARCH64: true, specs.ArchMIPS: true,
	specs.ArchMIPS64: true, specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true,
	specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true,
	specs.ArchS390X: true, specs.ArchPARISC: true, specs.ArchPARISC64: true,
	specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true, specs.ArchM68K: true,
	specs.ArchSH: true, specs.ArchSHEB: true,
}
