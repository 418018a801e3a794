package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// progress is the live line on stderr: on a terminal one line rewritten in
// place, with the runs done, the time so far and what runs now; elsewhere
// (a log, CI) one line per phase and per workload.
type progress struct {
	mu          sync.Mutex
	w           io.Writer
	tty         bool
	start       time.Time
	total, n    int
	last, shown string
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.tty = err == nil
	}
	return p
}

// phase reports a step before the measurements (generating, mounting).
func (p *progress) phase(s string) { p.show(s, true) }

// status reports the run that starts now.
func (p *progress) status(s string) { p.show(s, false) }

func (p *progress) step(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.n += n
	p.mu.Unlock()
}

func (p *progress) show(s string, phase bool) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start).Round(time.Second)
	line := fmt.Sprintf("lfs bench: %s (%s)", s, el)
	if !phase && p.total > 0 {
		line = fmt.Sprintf("lfs bench: [%d/%d] %s (%s)", p.n+1, p.total, s, el)
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.shown = line
		return
	}
	// Without a terminal: a line when the phase or the workload changes.
	key := s
	if !phase {
		key, _, _ = strings.Cut(s, " on ")
	}
	if key != p.last {
		p.last = key
		fmt.Fprintln(p.w, line)
	}
}

// done clears the line.
func (p *progress) done() {
	if p == nil || p.w == nil || !p.tty || p.shown == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\x1b[K")
}
