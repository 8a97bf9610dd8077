package etcdtest

import "syscall"

// procAttr kills etcd with the test process, even when the test binary dies
// without running its cleanups (a panic, go test's timeout).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
