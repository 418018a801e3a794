package container

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// The lfs process that runs a container serves its root filesystem on a
// unix socket, ROOT/containers/ID/control.sock, for lfs cp: only that
// process can reach it when it runs rootless (its FUSE mount answers
// only processes of its user namespace, and /proc/PID/root of a process
// of another user namespace is not ours to open). One request per
// connection: a JSON line, then the tar stream (to the server for
// extract, from it for archive), then, from the server, a JSON line with
// the outcome. Only the store's owner can reach the socket: the
// container's directory is 0700.

const controlSock = "control.sock"

type controlRequest struct {
	Op     string         `json:"op"` // "isdir", "archive", "extract"
	Path   string         `json:"path"`
	Name   string         `json:"name,omitempty"`
	Follow bool           `json:"follow,omitempty"`
	Opts   ExtractOptions `json:"opts"`
}

type controlReply struct {
	IsDir    bool   `json:"isDir,omitempty"`
	NotExist bool   `json:"notExist,omitempty"`
	Error    string `json:"error,omitempty"`
}

// sockPath names the socket through a descriptor of its directory, so
// that the path fits the 108 bytes a unix socket address has, however
// deep the store.
func sockPath(dir *os.File) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), controlSock)
}

// controlServer serves root (the container's, /proc/PID/root of its
// init) until closed.
type controlServer struct {
	ln   net.Listener
	root *Root
	wg   sync.WaitGroup
}

func serveControl(dir string, pid int) (*controlServer, error) {
	root, err := OpenRoot(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return nil, err
	}
	d, err := os.Open(dir)
	if err != nil {
		root.Close()
		return nil, err
	}
	defer d.Close()
	os.Remove(filepath.Join(dir, controlSock))
	ln, err := net.Listen("unix", sockPath(d))
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("serve container: %w", err)
	}
	s := &controlServer{ln: ln, root: root}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handle(conn)
			}()
		}
	}()
	return s, nil
}

func (s *controlServer) Close() {
	s.ln.Close() // removes the socket file
	s.wg.Wait()
	s.root.Close()
}

func (s *controlServer) handle(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req controlRequest
	var rep controlReply
	if err := json.Unmarshal(line, &req); err != nil {
		rep.Error = err.Error()
	} else {
		switch req.Op {
		case "isdir":
			rep.IsDir, err = s.root.IsDir(req.Path, req.Follow)
		case "archive":
			err = s.root.Archive(conn, req.Path, req.Name, req.Follow)
		case "extract":
			err = s.root.Extract(br, req.Path, req.Opts)
		default:
			err = fmt.Errorf("unknown request %q", req.Op)
		}
		if err != nil {
			rep.Error, rep.NotExist = err.Error(), errors.Is(err, fs.ErrNotExist)
		}
	}
	if req.Op == "archive" {
		// The tar ends the stream; the outcome follows it.
		conn.(*net.UnixConn).CloseWrite()
		return
	}
	json.NewEncoder(conn).Encode(rep)
}

// Remote is the root filesystem of a running container, reached through
// the lfs process that runs it.
type Remote struct {
	dir string
}

var _ Tree = (*Remote)(nil)

func (r *Remote) call(req controlRequest, in io.Reader, out io.Writer) (controlReply, error) {
	var rep controlReply
	d, err := os.Open(r.dir)
	if err != nil {
		return rep, err
	}
	defer d.Close()
	conn, err := net.Dial("unix", sockPath(d))
	if err != nil {
		return rep, fmt.Errorf("reach the container's lfs process: %w", err)
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return rep, err
	}
	if in != nil {
		if _, err := io.Copy(conn, in); err != nil {
			return rep, err
		}
		conn.(*net.UnixConn).CloseWrite()
	}
	if out != nil {
		// An archive's errors end the stream early: the tar reader on
		// the other side sees a truncated archive.
		_, err := io.Copy(out, conn)
		return rep, err
	}
	if err := json.NewDecoder(conn).Decode(&rep); err != nil {
		return rep, fmt.Errorf("read the container's reply: %w", err)
	}
	switch {
	case rep.NotExist:
		return rep, &fs.PathError{Op: req.Op, Path: req.Path, Err: unix.ENOENT}
	case rep.Error != "":
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// IsDir is Root.IsDir in the container.
func (r *Remote) IsDir(p string, follow bool) (bool, error) {
	rep, err := r.call(controlRequest{Op: "isdir", Path: p, Follow: follow}, nil, nil)
	return rep.IsDir, err
}

// Archive is Root.Archive in the container.
func (r *Remote) Archive(w io.Writer, p, name string, follow bool) error {
	_, err := r.call(controlRequest{Op: "archive", Path: p, Name: name, Follow: follow}, nil, w)
	return err
}

// Extract is Root.Extract in the container.
func (r *Remote) Extract(rd io.Reader, dir string, o ExtractOptions) error {
	_, err := r.call(controlRequest{Op: "extract", Path: dir, Opts: o}, rd, nil)
	return err
}
