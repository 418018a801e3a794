// Package network gives a container its network: the host's (Host, the
// default), none but lo (None), or a network namespace of its own that
// slirp4netns connects to the host's network in user mode (Slirp4netns),
// with ports published on the host; and the container's /etc/hosts and
// /etc/resolv.conf for each.
//
// # Lifecycle
//
// The CLI turns --network, -p, --add-host and --dns* into a [Config]
// with [Parse]. The runtime writes the container's /etc files from
// [Config.Hosts] and [Config.ResolvConf], starts the container's first
// process in a new network namespace and, before that process runs the
// command, calls [Start] with its PID: slirp4netns joins the namespace
// (and its user namespace, rootless), configures tap0 and lo, and
// listens on the published ports. [Net.Close], after the container
// ended, stops it.
//
// # Addresses
//
// The container is 10.0.2.100/24 on tap0, its gateway 10.0.2.2 and its
// nameserver 10.0.2.3, slirp4netns's forwarder to the host's resolvers.
// The gateway does not reach the host's loopback unless
// --network slirp4netns:allow_host_loopback=true; the host's other
// addresses are reachable as any outside address. Published ports
// listen on 127.0.0.1 unless -p names an address (docker's default is
// 0.0.0.0), and connections arrive in the container from 10.0.2.2.
//
// # Why slirp4netns, not pasta
//
// Debian 12 ships both. slirp4netns works the same as root and rootless,
// adds ports at run time through its API socket and reports readiness
// on a pipe. Debian 12's pasta (a 2023 snapshot) drops to nobody when
// started as root and then cannot open the container's namespaces, and
// takes its ports only on its command line; pasta's speed (no TCP/IP
// emulation, the host's addresses inside) can be had later behind the
// same Config.
//
// # Invariants
//
//   - slirp4netns never outlives the process that started it: it exits
//     when a pipe that only that process holds closes (--exit-fd), and
//     Start refuses a process in the caller's own network namespace (it
//     would put tap0 on the host).
//   - slirp4netns runs sandboxed (--enable-sandbox, --enable-seccomp):
//     it parses the container's packets.
//   - A port that cannot be published fails Start, naming the address
//     and the kernel's reason; nothing is left running.
package network
