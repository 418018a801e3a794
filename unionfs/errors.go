package unionfs

import (
	"errors"
	"fmt"
	"io/fs"
)

// Errors returned by this package; check them with errors.Is. Failures of
// the upper directory's own system calls come back as wrapped
// syscall.Errno values (through *os.PathError or a "verb path: %w" wrap).
var (
	// ErrNotExist: no such name in the merged view (absent or whited out).
	ErrNotExist = fmt.Errorf("unionfs: %w", fs.ErrNotExist)
	// ErrExist: the name is already in the merged view.
	ErrExist = fmt.Errorf("unionfs: %w", fs.ErrExist)
	// ErrNotDir: a path component, or the target of a directory
	// operation, is not a directory.
	ErrNotDir = errors.New("unionfs: not a directory")
	// ErrIsDir: a file operation named a directory.
	ErrIsDir = errors.New("unionfs: is a directory")
	// ErrNotEmpty: rmdir or rename onto a directory that is not empty in
	// the merged view.
	ErrNotEmpty = errors.New("unionfs: directory not empty")
	// ErrReserved: the name starts with ".wh.", which the upper directory
	// uses for its own bookkeeping.
	ErrReserved = errors.New("unionfs: reserved name")
	// ErrCrossDevice: rename of a directory that lower layers hold (as
	// kernel overlayfs without redirect_dir answers, so that mv copies).
	ErrCrossDevice = errors.New("unionfs: cannot rename a directory from a lower layer")
	// ErrReadOnly: the union has no upper directory or was made read-only.
	ErrReadOnly = errors.New("unionfs: read-only union")
	// ErrNoAttr: no such extended attribute.
	ErrNoAttr = errors.New("unionfs: no such attribute")
	// ErrPermission: the extended attribute is lfs's or overlayfs's own.
	ErrPermission = fmt.Errorf("unionfs: %w", fs.ErrPermission)
	// ErrInvalid: an argument the operation cannot take (a rename flag,
	// a RENAME_EXCHANGE of directories).
	ErrInvalid = errors.New("unionfs: invalid argument")
)
