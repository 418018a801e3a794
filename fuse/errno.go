package fuse

import (
	"errors"
	"log"
	"syscall"

	"github.com/lfs-dev/lfs/unionfs"
)

// errnos maps unionfs's sentinels to what the kernel should answer. fs.ToErrno
// would answer ENOTSUP for them, which is why this table exists.
var errnos = []struct {
	err   error
	errno syscall.Errno
}{
	{unionfs.ErrNotExist, syscall.ENOENT},
	{unionfs.ErrExist, syscall.EEXIST},
	{unionfs.ErrNotDir, syscall.ENOTDIR},
	{unionfs.ErrIsDir, syscall.EISDIR},
	{unionfs.ErrNotEmpty, syscall.ENOTEMPTY},
	{unionfs.ErrReserved, syscall.EINVAL},
	{unionfs.ErrCrossDevice, syscall.EXDEV},
	{unionfs.ErrReadOnly, syscall.EROFS},
	{unionfs.ErrNoAttr, syscall.ENODATA},
	{unionfs.ErrPermission, syscall.EPERM},
	{unionfs.ErrInvalid, syscall.EINVAL},
}

// toErrno turns err into the errno for the kernel. A syscall.Errno inside
// err is passed on (the upper directory's answer); anything else is
// unexpected: EIO, and one line in the log naming op.
func toErrno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	for _, e := range errnos {
		if errors.Is(err, e.err) {
			return e.errno
		}
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	log.Printf("lfs: %s: %v", op, err)
	return syscall.EIO
}
