package scripting

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
)

// osLimits applies the worker's OS limits: an address-space limit (the
// worker's size now plus its memory budget), no core files, no files
// written, few descriptors, a lower CPU priority than the server, and a
// system-call filter that refuses starting programs, forking and opening
// sockets. It returns what could not be applied.
func osLimits(cfg workerConfig) string {
	var missing []string
	set := func(what string, res int, v uint64) {
		if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: v, Max: v}); err != nil {
			missing = append(missing, what+": "+err.Error())
		}
	}
	set("RLIMIT_CORE", syscall.RLIMIT_CORE, 0)
	set("RLIMIT_FSIZE", syscall.RLIMIT_FSIZE, 0)
	set("RLIMIT_NOFILE", syscall.RLIMIT_NOFILE, 32)
	if cfg.MemoryBytes > 0 && !raceEnabled {
		if vm := vmSize(); vm > 0 {
			set("RLIMIT_AS", syscall.RLIMIT_AS, vm+2*uint64(cfg.MemoryBytes)+workerHeapMargin)
		} else {
			missing = append(missing, "RLIMIT_AS: size unknown")
		}
	}
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, 10); err != nil {
		missing = append(missing, "nice: "+err.Error())
	}
	if !cfg.NoSeccomp {
		filter := seccomp.Filter{
			NoNewPrivs: true,
			Flag:       seccomp.FilterFlagTSync,
			Policy: seccomp.Policy{
				DefaultAction: seccomp.ActionAllow,
				Syscalls: []seccomp.SyscallGroup{{
					Action: seccomp.ActionErrno,
					Names: []string{
						"execve", "execveat", "fork", "vfork",
						"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
						"ptrace", "process_vm_readv", "process_vm_writev",
						"mount", "umount2", "chroot", "pivot_root", "unshare", "setns",
					},
				}},
			},
		}
		if err := seccomp.LoadFilter(filter); err != nil {
			missing = append(missing, "seccomp: "+err.Error())
		}
	}
	return strings.Join(missing, "; ")
}

// vmSize is the process's virtual size in bytes, from /proc/self/statm.
func vmSize() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	pages, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
