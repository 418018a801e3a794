package layerstore

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// teeReader is the ingest pipeline's spine: it reads its source in 1 MiB
// chunks, hands each chunk to a goroutine that writes it to a file and a
// hash, and serves the same chunk to its own reader, without copying it
// for the writer. Seek (forward, io.SeekCurrent only) skips bytes the
// reader does not need, so archive/tar passes over file data without
// copying it anywhere, while the file and hash still get every byte.
type teeReader struct {
	src  io.Reader
	cur  *chunk
	off  int
	pos  int64
	err  error
	ch   chan *chunk
	done chan error
	f    *os.File
	also io.Writer
}

type chunk struct {
	b    []byte
	refs atomic.Int32
}

var chunkPool = sync.Pool{New: func() any { return &chunk{b: make([]byte, chunkSize)} }}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		c.b = c.b[:cap(c.b)]
		chunkPool.Put(c)
	}
}

func newTeeReader(src io.Reader, f *os.File, also io.Writer) *teeReader {
	t := &teeReader{src: src, ch: make(chan *chunk, 8), done: make(chan error, 1), f: f, also: also}
	ch := t.ch
	go func() {
		var err error
		var written, flushed int64
		for c := range ch {
			if err == nil && f != nil {
				var n int
				n, err = f.Write(c.b)
				written += int64(n)
				if written-flushed >= writebackChunk {
					// Start writing back what is written so far, so that the
					// fsync at Close finds little left to do: otherwise a
					// large layer waits for all of it at the end.
					unix.SyncFileRange(int(f.Fd()), flushed, written-flushed, unix.SYNC_FILE_RANGE_WRITE)
					flushed = written
				}
			}
			if err == nil {
				_, err = also.Write(c.b)
			}
			c.release()
		}
		t.done <- err
	}()
	return t
}

// next makes the following chunk current. At the end of the source t.err
// is set (io.EOF or the source's error) and no chunk is current.
func (t *teeReader) next() {
	if t.cur != nil {
		t.cur.release()
		t.cur = nil
	}
	if t.err != nil {
		return
	}
	c := chunkPool.Get().(*chunk)
	// Fill the chunk; unlike io.ReadFull, keep the source's own
	// io.ErrUnexpectedEOF (a truncated gzip stream says so) apart from a
	// short last chunk.
	n := 0
	var err error
	for n < len(c.b) && err == nil {
		var k int
		k, err = t.src.Read(c.b[n:])
		n += k
	}
	if n > 0 {
		c.b = c.b[:n]
		c.refs.Store(2)
		t.ch <- c
		t.cur, t.off = c, 0
	} else {
		chunkPool.Put(c)
	}
	t.err = err
}

func (t *teeReader) Read(p []byte) (int, error) {
	for t.cur == nil || t.off == len(t.cur.b) {
		if t.err != nil {
			return 0, t.err
		}
		t.next()
	}
	n := copy(p, t.cur.b[t.off:])
	t.off += n
	t.pos += int64(n)
	return n, nil
}

var errSeek = errors.New("layerstore: tee seeks forward only")

// Seek skips off bytes forward (whence io.SeekCurrent). At the end of the
// source it stops short; the position it returns says where.
func (t *teeReader) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekCurrent || off < 0 {
		return t.pos, errSeek
	}
	for off > 0 {
		if t.cur == nil || t.off == len(t.cur.b) {
			if t.err != nil {
				if t.err == io.EOF {
					break
				}
				return t.pos, t.err
			}
			t.next()
			continue
		}
		k := int64(len(t.cur.b) - t.off)
		if k > off {
			k = off
		}
		t.off += int(k)
		t.pos += k
		off -= k
	}
	return t.pos, nil
}

// Drain passes the rest of the source to the writer.
func (t *teeReader) Drain() error {
	for t.err == nil {
		t.next()
	}
	if t.cur != nil {
		t.cur.release()
		t.cur = nil
	}
	if t.err == io.EOF {
		return nil
	}
	return t.err
}

// Close stops the writer, fsyncs and closes the file, and returns the first
// error of either.
func (t *teeReader) Close() error {
	if t.ch == nil {
		return nil
	}
	if t.cur != nil {
		t.cur.release()
		t.cur = nil
	}
	close(t.ch)
	t.ch = nil
	err := <-t.done
	if t.f != nil {
		if err == nil {
			err = t.f.Sync()
		}
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

const chunkSize = 1 << 20

// writebackChunk is how much a tee writes before it asks the kernel to
// start writing it back (sync_file_range, which does not wait).
const writebackChunk = 16 << 20
