package seccomp

// Select is the profile for a container, as Docker picks it: "" or
// "builtin" (--security-opt seccomp=builtin) is the default profile,
// "unconfined" none, anything else the path of a profile file; a
// privileged container has none whatever was asked. None is a nil
// Profile, whose Compile gives a nil Filter.
func Select(securityOpt string, privileged bool) (*Profile, error) {
	switch {
	case privileged || securityOpt == "unconfined":
		return nil, nil
	case securityOpt == "" || securityOpt == "builtin":
		return DefaultProfile(), nil
	}
	return LoadProfile(securityOpt)
}
