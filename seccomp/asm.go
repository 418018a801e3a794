package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm assembles a classic BPF program with symbolic, forward-only jump
// targets. A conditional jump reaches at most 255 instructions ahead;
// where a target is farther, assemble puts a stub right after the jump:
// a copy of the target when that is a return (as fast as jumping to
// it), else an unconditional jump, which reaches anywhere.
type asm struct {
	items   []item
	pending []label // placed on the next item emitted
	nlabels int
}

type label int

type item struct {
	ins    bpf.Instruction // a load, an ALU op or a return; nil for jumps
	test   bpf.JumpTest    // a conditional jump: A test k ? jt : jf
	k      uint32
	jt, jf label
	ja     label // an unconditional jump, when ja >= 0 and ins == nil and jt < 0
	labels []label
}

func (a *asm) label() label {
	a.nlabels++
	return label(a.nlabels - 1)
}

// place binds l to the next instruction emitted.
func (a *asm) place(l label) { a.pending = append(a.pending, l) }

func (a *asm) emit(it item) int {
	it.labels, a.pending = a.pending, nil
	a.items = append(a.items, it)
	return len(a.items) - 1
}

func (a *asm) load(off uint32) {
	a.emit(item{ins: bpf.LoadAbsolute{Off: off, Size: 4}, jt: -1, jf: -1, ja: -1})
}

func (a *asm) and(k uint32) {
	a.emit(item{ins: bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: k}, jt: -1, jf: -1, ja: -1})
}

func (a *asm) ret(k uint32) {
	a.emit(item{ins: bpf.RetConstant{Val: k}, jt: -1, jf: -1, ja: -1})
}

// jump emits "if A test k goto jt else goto jf" and returns its index,
// so a caller may set targets it learns later.
func (a *asm) jump(test bpf.JumpTest, k uint32, jt, jf label) int {
	return a.emit(item{test: test, k: k, jt: jt, jf: jf, ja: -1})
}

func (a *asm) goTo(l label) { a.emit(item{jt: -1, jf: -1, ja: l}) }

func (it *item) isJump() bool { return it.ins == nil && it.jt >= 0 }

// positions maps each label to the index of its instruction.
func (a *asm) positions() ([]int, error) {
	pos := make([]int, a.nlabels)
	for i := range pos {
		pos[i] = -1
	}
	for i, it := range a.items {
		for _, l := range it.labels {
			pos[l] = i
		}
	}
	for l, p := range pos {
		if p < 0 {
			return nil, fmt.Errorf("assemble: label %d never placed", l)
		}
	}
	return pos, nil
}

// assemble resolves the labels and returns the program.
func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	if len(a.pending) != 0 {
		return nil, fmt.Errorf("assemble: label after the last instruction")
	}
	// Stubs only ever get added, so this ends; each round may push
	// other jumps out of reach, hence the loop.
	for {
		pos, err := a.positions()
		if err != nil {
			return nil, err
		}
		out := make([]item, 0, len(a.items))
		grew := false
		for i, it := range a.items {
			var stubs []item
			if it.isJump() {
				for _, t := range []*label{&it.jt, &it.jf} {
					if pos[*t]-i-1 <= 255 {
						continue
					}
					target := a.items[pos[*t]]
					stub := item{jt: -1, jf: -1, ja: *t}
					if _, ok := target.ins.(bpf.RetConstant); ok {
						stub = item{ins: target.ins, jt: -1, jf: -1, ja: -1}
					}
					l := a.label()
					stub.labels = []label{l}
					*t = l
					stubs = append(stubs, stub)
				}
			}
			out = append(out, it)
			out = append(out, stubs...)
			grew = grew || len(stubs) > 0
		}
		a.items = out
		if !grew {
			break
		}
	}
	pos, err := a.positions()
	if err != nil {
		return nil, err
	}
	raw := make([]bpf.RawInstruction, len(a.items))
	for i, it := range a.items {
		ins := it.ins
		switch {
		case it.isJump():
			dt, df := pos[it.jt]-i-1, pos[it.jf]-i-1
			if dt < 0 || df < 0 || dt > 255 || df > 255 {
				return nil, fmt.Errorf("assemble: jump at %d out of range (%d, %d)", i, dt, df)
			}
			ins = bpf.JumpIf{Cond: it.test, Val: it.k, SkipTrue: uint8(dt), SkipFalse: uint8(df)}
		case ins == nil:
			d := pos[it.ja] - i - 1
			if d < 0 {
				return nil, fmt.Errorf("assemble: backward jump at %d", i)
			}
			ins = bpf.Jump{Skip: uint32(d)}
		}
		r, err := ins.Assemble()
		if err != nil {
			return nil, fmt.Errorf("assemble %v: %w", ins, err)
		}
		raw[i] = r
	}
	return raw, nil
}
