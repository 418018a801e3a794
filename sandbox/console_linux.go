package sandbox

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// console is the pty of a container with a terminal, made in the
// container's own devpts (so that its name, /dev/pts/0, means the same
// inside as the kernel says), its master sent to the parent.
type console struct {
	master, slave *os.File
}

// openConsole opens a pty in the container's devpts, sets its size and
// binds its slave onto /dev/console, as runc does.
func openConsole(size *WinSize) (*console, error) {
	master, err := os.OpenFile("/dev/pts/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: open pty: %w", err)
	}
	fail := func(err error) (*console, error) {
		master.Close()
		return nil, fmt.Errorf("sandbox: open pty: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fail(err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fail(err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return fail(err)
	}
	if size != nil {
		ws := &unix.Winsize{Row: size.Rows, Col: size.Cols}
		if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			slave.Close()
			return fail(err)
		}
	}
	if err := os.WriteFile("/dev/console", nil, 0o600); err != nil {
		slave.Close()
		return fail(err)
	}
	if err := unix.Mount(name, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		slave.Close()
		return fail(err)
	}
	return &console{master: master, slave: slave}, nil
}

// own gives the pty to the container's user, as a login would.
func (c *console) own(uid int) error {
	if err := c.slave.Chown(uid, -1); err != nil {
		return fmt.Errorf("sandbox: chown pty: %w", err)
	}
	return nil
}

// send hands the master to the parent over sock and closes our copy: the
// container keeps only the slave.
func (c *console) send(sock *os.File) error {
	err := sendFd(sock, int(c.master.Fd()))
	c.master.Close()
	if err != nil {
		return fmt.Errorf("sandbox: send pty: %w", err)
	}
	return nil
}

// sendFd passes fd over the unix socket sock (SCM_RIGHTS).
func sendFd(sock *os.File, fd int) error {
	return unix.Sendmsg(int(sock.Fd()), []byte{0}, unix.UnixRights(fd), nil, 0)
}

// session makes the pty this process's controlling terminal, in a
// session of its own.
func (c *console) session() error {
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("sandbox: setsid: %w", err)
	}
	if err := unix.IoctlSetInt(int(c.slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("sandbox: controlling terminal: %w", err)
	}
	return nil
}

// attach makes the pty the controlling terminal and stdin, stdout and
// stderr of this process, which execs the command next.
func (c *console) attach() error {
	if err := c.session(); err != nil {
		return err
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(c.slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("sandbox: pty as fd %d: %w", fd, err)
		}
	}
	c.slave.Close()
	return nil
}

// recvFd receives a descriptor sendFd passed; ok is false when the other
// side closed its end without sending (it failed first).
func recvFd(sock *os.File) (*os.File, bool, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, false, fmt.Errorf("receive descriptor: %w", err)
	}
	if n == 0 && oobn == 0 {
		return nil, false, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, false, fmt.Errorf("receive descriptor: bad message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, false, fmt.Errorf("receive descriptor: bad message")
	}
	return os.NewFile(uintptr(fds[0]), "passed"), true, nil
}
