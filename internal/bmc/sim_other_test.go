//go:build !linux

package bmc

import "testing"

func ipmisimRequired() bool { return false }

func TestIPMISimLinuxOnly(t *testing.T) { t.Skip("the ipmi_sim tests run on Linux") }
