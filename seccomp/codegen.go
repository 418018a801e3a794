package seccomp

import (
	"cmp"
	"math"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// The program:
//
//	load arch; one jeq per section; else return badArch
//	section: load nr; a binary search over its segments (one jge per
//	  split), whose leaves jump to a shared return or a condition block
//	condition blocks: load argument words, compare, jump to a return
//	returns: one per distinct value
//
// A syscall costs the arch check, about log2(segments) comparisons and
// a return; merging adjacent segments of equal decision keeps the
// search small, since most of a profile is runs of allowed numbers.

func (c *compiler) program(sections []section) ([]bpf.RawInstruction, error) {
	a := &c.a
	a.load(offArch)
	starts := make([]label, len(sections))
	for i, s := range sections {
		starts[i] = a.label()
		next := a.label()
		a.jump(bpf.JumpEqual, s.audit, starts[i], next)
		a.place(next)
	}
	a.ret(badArch)
	for i, s := range sections {
		a.place(starts[i])
		if d := s.segs[0].d; len(s.segs) == 1 && len(d.conds) == 0 {
			a.ret(d.ret) // one action for every number: no search
			continue
		}
		a.load(offNR)
		leaves := make([]leaf, len(s.segs))
		for j, sg := range s.segs {
			leaves[j] = leaf{sg.lo, c.target(sg.d)}
		}
		c.search(leaves)
	}
	for _, d := range c.order {
		a.place(c.blocks[d.key()])
		c.block(d)
	}
	for _, r := range c.retOrd {
		a.place(c.rets[r])
		a.ret(r)
	}
	return a.assemble()
}

// target is the label of the code for decision d.
func (c *compiler) target(d *decision) label {
	if len(d.conds) == 0 {
		return c.retLabel(d.ret)
	}
	k := d.key()
	l, ok := c.blocks[k]
	if !ok {
		l = c.a.label()
		c.blocks[k] = l
		c.order = append(c.order, d)
	}
	return l
}

func (c *compiler) retLabel(r uint32) label {
	l, ok := c.rets[r]
	if !ok {
		l = c.a.label()
		c.rets[r] = l
		c.retOrd = append(c.retOrd, r)
	}
	return l
}

// leaf: the numbers from lo up to the next leaf's lo go to to.
type leaf struct {
	lo uint32
	to label
}

// search emits a binary search of A over leaves (sorted by lo, the
// first at 0) at the current position. The "below" half follows each
// comparison, so jf falls through when it is not a leaf.
func (c *compiler) search(leaves []leaf) {
	var merged []leaf
	for _, l := range leaves {
		if n := len(merged); n == 0 || merged[n-1].to != l.to {
			merged = append(merged, l)
		}
	}
	if len(merged) == 1 {
		c.a.goTo(merged[0].to)
		return
	}
	c.tree(merged)
}

func (c *compiler) tree(leaves []leaf) label {
	if len(leaves) == 1 {
		return leaves[0].to
	}
	here := c.a.label()
	c.a.place(here)
	mid := len(leaves) / 2
	i := c.a.jump(bpf.JumpGreaterOrEqual, leaves[mid].lo, -1, -1)
	below := c.tree(leaves[:mid])
	above := c.tree(leaves[mid:])
	c.a.items[i].jt, c.a.items[i].jf = above, below
	return here
}

// block emits d's rules: each one's conditions in turn, the first that
// fails moving on to the next rule, the last rule's failure to d.ret.
func (c *compiler) block(d *decision) {
	for i := 0; i < len(d.conds); {
		cr := d.conds[i]
		j := i + 1
		for j < len(d.conds) && sameSet(cr, d.conds[j], d.bits32) {
			j++
		}
		fail := c.retLabel(d.ret)
		if j < len(d.conds) {
			fail = c.a.label()
		}
		if j-i > 1 {
			c.valueSet(d.conds[i:j], d.bits32, c.retLabel(cr.ret), fail)
		} else {
			c.rule(cr, d.bits32, fail)
		}
		if j < len(d.conds) {
			c.a.place(fail)
		}
		i = j
	}
}

// rule emits one rule's conditions, ANDed.
func (c *compiler) rule(cr condRule, bits32 bool, fail label) {
	for j, arg := range cr.args {
		pass := c.retLabel(cr.ret)
		if j < len(cr.args)-1 {
			pass = c.a.label()
		}
		c.compare(arg, bits32, pass, fail)
		if j < len(cr.args)-1 {
			c.a.place(pass)
		}
	}
}

// interval is the set of argument values a condition holds for, when
// that is one range of the low word with the high word zero (or
// ignored, on 32-bit ABIs): [lo, hi).
func interval(a specs.LinuxSeccompArg, bits32 bool) (lo, hi uint64, ok bool) {
	if !bits32 && a.Value > math.MaxUint32 {
		return 0, 0, false
	}
	v := a.Value & math.MaxUint32
	switch a.Op {
	case specs.OpEqualTo:
		return v, v + 1, true
	case specs.OpLessThan:
		return 0, v, true
	case specs.OpLessEqual:
		return 0, v + 1, true
	}
	if !bits32 {
		return 0, 0, false // >, >= also hold for any high word above zero
	}
	switch a.Op {
	case specs.OpGreaterThan:
		return v + 1, 1 << 32, true
	case specs.OpGreaterEqual:
		return v, 1 << 32, true
	}
	return 0, 0, false
}

// sameSet: rules a and b, consecutive, each test one argument, the same
// one, for a range of values, and do the same: together they are one
// test of membership in a set of ranges (Docker's socket and personality
// rules), done by binary search instead of one test after the other.
func sameSet(a, b condRule, bits32 bool) bool {
	if len(a.args) != 1 || len(b.args) != 1 || a.ret != b.ret || a.args[0].Index != b.args[0].Index {
		return false
	}
	_, _, okA := interval(a.args[0], bits32)
	_, _, okB := interval(b.args[0], bits32)
	return okA && okB
}

// valueSet emits: the argument of rules (see sameSet) is in one of their
// ranges ? pass : fail.
func (c *compiler) valueSet(rules []condRule, bits32 bool, pass, fail label) {
	type span struct{ lo, hi uint64 }
	var spans []span
	for _, r := range rules {
		lo, hi, _ := interval(r.args[0], bits32)
		spans = append(spans, span{lo, hi})
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.lo, y.lo) })
	off := offArgs + 8*uint32(rules[0].args[0].Index)
	if !bits32 {
		low := c.a.label()
		c.a.load(off + 4)
		c.a.jump(bpf.JumpEqual, 0, low, fail)
		c.a.place(low)
	}
	c.a.load(off)
	leaves := []leaf{{0, fail}}
	end := uint64(0) // leaves cover [0, end)
	for _, sp := range spans {
		if sp.hi <= end {
			continue
		}
		if sp.lo > end {
			leaves = append(leaves, leaf{uint32(end), fail})
		}
		leaves = append(leaves, leaf{uint32(max(sp.lo, end)), pass})
		end = sp.hi
	}
	if end < 1<<32 {
		leaves = append(leaves, leaf{uint32(end), fail})
	}
	if leaves[1].lo == 0 {
		leaves = leaves[1:]
	}
	c.search(leaves)
}

type condClass int

const (
	condTest   condClass = iota // needs code
	condAlways                  // holds for every value
	condNever                   // holds for none
)

// classify finds the conditions that need no code; masked-equal ones
// whose mask leaves out bits of the value never hold, and that is
// where the search matters (Docker's clone rule masks the low word
// only, so its high word needs no test).
func classify(a specs.LinuxSeccompArg, bits32 bool) condClass {
	v, v2 := a.Value, a.ValueTwo
	max := uint64(math.MaxUint64)
	if bits32 {
		v, v2, max = v&math.MaxUint32, v2&math.MaxUint32, math.MaxUint32
	}
	switch a.Op {
	case specs.OpMaskedEqual:
		switch {
		case v2&^v != 0:
			return condNever
		case v == 0:
			return condAlways
		}
	case specs.OpGreaterEqual:
		if v == 0 {
			return condAlways
		}
	case specs.OpLessThan:
		if v == 0 {
			return condNever
		}
	case specs.OpGreaterThan:
		if v == max {
			return condNever
		}
	case specs.OpLessEqual:
		if v == max {
			return condAlways
		}
	}
	return condTest
}

// compare emits one condition: jump to pass when it holds, else to fail.
// 64-bit values are compared high word first; only where the high words
// are equal does the low word decide.
func (c *compiler) compare(arg specs.LinuxSeccompArg, bits32 bool, pass, fail label) {
	a := &c.a
	lo := offArgs + 8*uint32(arg.Index)
	hi := lo + 4
	v, v2 := arg.Value, arg.ValueTwo
	vlo, vhi := uint32(v), uint32(v>>32)

	if arg.Op == specs.OpMaskedEqual {
		// (arg & v) == v2, word by word; a zero mask word needs no
		// test (classify made sure v2 is zero there).
		mlo, mhi, wlo, whi := uint32(v), uint32(v>>32), uint32(v2), uint32(v2>>32)
		if !bits32 && mhi != 0 {
			next := pass // the low word needs no test
			if mlo != 0 {
				next = a.label()
			}
			a.load(hi)
			if mhi != math.MaxUint32 {
				a.and(mhi)
			}
			a.jump(bpf.JumpEqual, whi, next, fail)
			if mlo == 0 {
				return
			}
			a.place(next)
		}
		a.load(lo)
		if mlo != math.MaxUint32 {
			a.and(mlo)
		}
		a.jump(bpf.JumpEqual, wlo, pass, fail)
		return
	}

	// The low-word test of each operator: jump to t when true.
	type test struct {
		op   bpf.JumpTest
		flip bool // jump to fail when the test holds
	}
	var low test
	switch arg.Op {
	case specs.OpEqualTo:
		low = test{bpf.JumpEqual, false}
	case specs.OpNotEqual:
		low = test{bpf.JumpEqual, true}
	case specs.OpGreaterThan:
		low = test{bpf.JumpGreaterThan, false}
	case specs.OpGreaterEqual:
		low = test{bpf.JumpGreaterOrEqual, false}
	case specs.OpLessThan:
		low = test{bpf.JumpGreaterOrEqual, true}
	case specs.OpLessEqual:
		low = test{bpf.JumpGreaterThan, true}
	}
	if !bits32 {
		checkLo := a.label()
		a.load(hi)
		switch arg.Op {
		case specs.OpEqualTo:
			a.jump(bpf.JumpEqual, vhi, checkLo, fail)
		case specs.OpNotEqual:
			a.jump(bpf.JumpEqual, vhi, checkLo, pass)
		case specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpLessThan, specs.OpLessEqual:
			above, below := pass, fail // high word above v's: >, >= hold
			if arg.Op == specs.OpLessThan || arg.Op == specs.OpLessEqual {
				above, below = fail, pass
			}
			if vhi == 0 {
				// Not above zero is zero: no equality test.
				a.jump(bpf.JumpGreaterThan, vhi, above, checkLo)
			} else {
				eq := a.label()
				a.jump(bpf.JumpGreaterThan, vhi, above, eq)
				a.place(eq)
				a.jump(bpf.JumpEqual, vhi, checkLo, below)
			}
		}
		a.place(checkLo)
	}
	a.load(lo)
	if low.flip {
		a.jump(low.op, vlo, fail, pass)
	} else {
		a.jump(low.op, vlo, pass, fail)
	}
}
