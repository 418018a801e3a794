package seccomp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/net/bpf"
)

// call is one syscall as the kernel shows it to a filter.
type call struct {
	audit uint32
	nr    uint32
	args  [6]uint64
}

// data is the call's struct seccomp_data for x/net/bpf's VM. The VM
// loads words big-endian (network order) while the kernel loads them in
// the host's order, little-endian here, where a 64-bit argument's low
// word comes first: so each 32-bit word goes big-endian at the offset a
// little-endian kernel would read it from.
func (c call) data() []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNR:], c.nr)
	binary.BigEndian.PutUint32(b[offArch:], c.audit)
	for i, a := range c.args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

// vm is a filter loaded into x/net/bpf's VM.
type vm struct {
	t    testing.TB
	f    *Filter
	bvm  *bpf.VM
	prog []bpf.Instruction
}

func newVM(t testing.TB, f *Filter) *vm {
	t.Helper()
	if f == nil {
		t.Fatal("no filter")
	}
	prog, ok := bpf.Disassemble(f.Instructions())
	if !ok {
		t.Fatal("the program holds instructions x/net/bpf does not know")
	}
	bvm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("x/net/bpf rejects the program: %v", err)
	}
	return &vm{t, f, bvm, prog}
}

// run returns the filter's verdict on c, from the x/net VM, after
// checking that the step counter below agrees with it.
func (v *vm) run(c call) uint32 {
	v.t.Helper()
	got, err := v.bvm.Run(c.data())
	if err != nil {
		v.t.Fatalf("run %+v: %v", c, err)
	}
	mine, _ := v.steps(c)
	if uint32(got) != mine {
		v.t.Fatalf("run %+v: x/net VM says %#x, step counter %#x", c, got, mine)
	}
	return uint32(got)
}

// steps interprets the program itself, counting the instructions it
// executes: the cost of a syscall. It knows only what the compiler
// emits, and fails on anything else.
func (v *vm) steps(c call) (uint32, int) {
	data := c.data()
	var a uint32
	n := 0
	for pc := 0; pc < len(v.prog); pc++ {
		n++
		switch ins := v.prog[pc].(type) {
		case bpf.LoadAbsolute:
			a = binary.BigEndian.Uint32(data[ins.Off:])
		case bpf.ALUOpConstant:
			if ins.Op != bpf.ALUOpAnd {
				v.t.Fatalf("unexpected %v", ins)
			}
			a &= ins.Val
		case bpf.Jump:
			pc += int(ins.Skip)
		case bpf.JumpIf:
			var hold bool
			switch ins.Cond {
			case bpf.JumpEqual:
				hold = a == ins.Val
			case bpf.JumpNotEqual:
				hold = a != ins.Val
			case bpf.JumpGreaterThan:
				hold = a > ins.Val
			case bpf.JumpGreaterOrEqual:
				hold = a >= ins.Val
			case bpf.JumpLessThan:
				hold = a < ins.Val
			case bpf.JumpLessOrEqual:
				hold = a <= ins.Val
			default:
				v.t.Fatalf("unexpected %v", ins)
			}
			if hold {
				pc += int(ins.SkipTrue)
			} else {
				pc += int(ins.SkipFalse)
			}
		case bpf.RetConstant:
			return ins.Val, n
		default:
			v.t.Fatalf("unexpected instruction %v", ins)
		}
	}
	v.t.Fatal("ran off the end of the program")
	return 0, n
}

// dump is the program, one instruction a line, for failure messages.
func (v *vm) dump() string {
	s := ""
	for i, ins := range v.prog {
		s += fmt.Sprintf("%4d %v\n", i, ins)
	}
	return s
}
