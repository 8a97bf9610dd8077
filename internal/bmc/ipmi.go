package bmc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// DialOptions bound one session's exchanges.
type DialOptions struct {
	// Timeout is how long one UDP exchange waits for its answer (go-ipmi's
	// timeout); 0 is 2 s. ipmitool's lanplus default is 1 s per try.
	Timeout time.Duration
	// Retries is how many times an exchange with no answer is sent again
	// (go-ipmi's retry count); 0 is 2.
	Retries int
}

// cipherSuites are tried in this order: 17 (RAKP-HMAC-SHA256,
// HMAC-SHA256-128, AES-CBC-128), the strongest IPMI v2.0 has, then 3
// (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), the one every lanplus BMC
// offers (ipmitool's default before 1.8.19). go-ipmi alone would try
// eleven suites when the BMC does not list them (OpenIPMI's ipmi_sim does
// not answer Get Channel Cipher Suites); with a wrong password that walk
// made ipmi_sim 2.0.x exit, and it costs one timeout per refused suite.
var cipherSuites = []types.CipherSuiteID{types.CipherSuiteID17, types.CipherSuiteID3}

type ipmiController struct {
	c       *client.Client
	retries int // go-ipmi's, for the exchanges that change nothing
}

func dialIPMI(ctx context.Context, cr Credentials, o DialOptions) (Controller, error) {
	host, port, err := cr.HostPort()
	if err != nil {
		return nil, &Error{Kind: KindConfig, Err: err}
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 2
	}
	c, err := client.NewClient(host, port, cr.User, cr.Password)
	if err != nil {
		return nil, &Error{Kind: KindConfig, Err: err}
	}
	c.WithTimeout(o.Timeout).WithRetry(o.Retries).WithCipherSuiteID(cipherSuites...)
	// Operator is enough for chassis control and boot options (IPMI v2.0
	// Appendix G); asking for no more lets a BMC user without admin rights work.
	c.WithMaxPrivilegeLevel(types.PrivilegeLevelOperator)
	if err := c.Connect(ctx); err != nil {
		// go-ipmi keeps its UDP socket when Connect fails: Close frees it.
		// Given a context already ended, Close sends no Close Session to a
		// BMC that gave no session (and waits for no answer).
		done, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancel()
		c.Close(done)
		return nil, classify("connect to "+net.JoinHostPort(host, fmt.Sprint(port)), err)
	}
	return &ipmiController{c: c, retries: o.Retries}, nil
}

func (i *ipmiController) PowerState(ctx context.Context) (Power, error) {
	st, err := i.c.GetChassisStatus(ctx)
	if err != nil {
		return "", classify("get chassis status", err)
	}
	if st.PowerIsOn {
		return PowerOn, nil
	}
	return PowerOff, nil
}

func (i *ipmiController) Power(ctx context.Context, a Action) error {
	var ctl chassis.ChassisControl
	switch a {
	case On:
		ctl = chassis.ChassisControlPowerUp
	case Off:
		ctl = chassis.ChassisControlPowerDown
	case Cycle:
		ctl = chassis.ChassisControlPowerCycle
	case Reset:
		ctl = chassis.ChassisControlHardReset
	default:
		return &Error{Kind: KindUnsupported, Op: "power " + string(a), Err: errors.New("not a chassis control")}
	}
	// Sent once: go-ipmi sends an exchange whose answer was lost again
	// with the same sequence numbers, which a BMC may carry out again (a
	// second power cycle). A lost answer is a "no answer" that may have
	// been done: the error says to look. (go-ipmi's only other user of
	// the setting, its session keepalive, first runs 30 s after Connect:
	// never within an Operator's session, bounded by its Timeout, 30 s.)
	i.c.WithRetry(0)
	defer i.c.WithRetry(i.retries)
	if _, err := i.c.ChassisControl(ctx, ctl); err != nil {
		err = classify("power "+string(a), err)
		if KindOf(err) == KindNoAnswer {
			err.(*Error).Err = errors.New("no answer (it may have been done: see rackboot machines power status)")
		}
		return err
	}
	return nil
}

func (i *ipmiController) SetBootDevice(ctx context.Context, d BootDevice) error {
	dev := types.BootDeviceSelectorNoOverride
	if d.PXE {
		dev = types.BootDeviceSelectorForcePXE
	}
	bt := types.BIOSBootTypeLegacy
	if d.EFI {
		bt = types.BIOSBootTypeEFI
	}
	if err := i.c.SetBootDevice(ctx, dev, bt, d.Persistent); err != nil {
		return classify("set boot device", err)
	}
	return nil
}

func (i *ipmiController) Close(ctx context.Context) error {
	return i.c.Close(ctx)
}

// classify sorts go-ipmi's errors. Completion codes are values
// (types.ResponseError); the session setup's failures are not: go-ipmi
// joins each cipher suite's error into one string, so the RAKP failures
// (IPMI v2.0 §13.31: a wrong password fails the RAKP 2 authentication
// code, an unknown user gets status 0x0D "unauthorized name") and the
// transport's are told apart by their text there, and only there.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	kind := KindFailed
	if re, ok := types.IsResponseError(err); ok {
		switch re.CompletionCode() {
		case 0xC1, 0xC9, 0xCC, 0x80: // invalid command, parameter out of range, invalid data field, parameter not supported
			kind = KindUnsupported
		case 0xD5: // command not supported in present state
			kind = KindState
		case 0xD4: // insufficient privilege level
			kind = KindAuth
		}
		// go-ipmi's text nests each layer's prefix; the code says it all.
		cc := re.CompletionCode()
		return &Error{Kind: kind, Op: op, Err: fmt.Errorf("%s (%#02x)", cc, uint8(cc)), Detail: err.Error()}
	}
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.Is(err, client.ErrRAKPAuthentication), strings.Contains(msg, client.ErrRAKPAuthentication.Error()),
		strings.Contains(msg, "Unauthorized name"), strings.Contains(msg, "Invalid integrity check value"),
		strings.Contains(msg, "insufficient privilege"), strings.Contains(msg, "Unauthorized role or privilege"):
		kind = KindAuth
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &ne) && ne.Timeout(),
		strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "connection refused"), strings.Contains(msg, "no route to host"),
		strings.Contains(msg, "UDP exchange error"), strings.Contains(msg, "before UDP read deadline"):
		kind = KindNoAnswer
	}
	switch kind {
	case KindAuth:
		// go-ipmi's text lists every cipher suite tried, over lines: the
		// operator needs the verdict; the log keeps the detail.
		return &Error{Kind: kind, Op: op, Err: errors.New("the BMC refused the user name or password"), Detail: msg}
	case KindNoAnswer:
		return &Error{Kind: kind, Op: op, Err: errors.New("no answer"), Detail: msg}
	}
	return &Error{Kind: kind, Op: op, Err: err}
}
