package fetch

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/saturn-pods/saturn/clip"
)

// tlsError is a request that failed in the TLS handshake: the server's
// certificate was not trusted or the server does not speak TLS at all.
// Asking again cannot help, so it is never retried.
type tlsError struct {
	url string
	err error
}

// plainHTTPAnswer is how net/http reports a plain-HTTP answer to a TLS
// hello; it has no error type of its own.
const plainHTTPAnswer = "server gave HTTP response to HTTPS client"

func (e *tlsError) Error() string {
	if strings.Contains(e.err.Error(), plainHTTPAnswer) {
		return fmt.Sprintf("GET %s: TLS handshake failed: the server answered in plain HTTP; use an http:// URL (allowed with --insecure-options=http) or fix the server", clip.String(e.url))
	}
	return fmt.Sprintf("GET %s: TLS handshake failed: %v", clip.String(e.url), e.err)
}

func (e *tlsError) Unwrap() error { return e.err }

// isTLSFailure reports whether err comes from the TLS handshake rather
// than from the network.
func isTLSFailure(err error) bool {
	var recErr tls.RecordHeaderError
	var verifyErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	switch {
	case errors.As(err, &recErr), errors.As(err, &verifyErr), errors.As(err, &unknownCA),
		errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &alert):
		return true
	}
	return strings.Contains(err.Error(), plainHTTPAnswer)
}

// httpFlag is the flag that allows plain http, for refusal messages.
func (c *Client) httpFlag() string {
	if c.opts.HTTPFlag != "" {
		return c.opts.HTTPFlag
	}
	return "--insecure-options=http"
}

func (c *Client) debugf(format string, a ...any) {
	if c.opts.Debugf != nil {
		c.opts.Debugf(format, a...)
	}
}
