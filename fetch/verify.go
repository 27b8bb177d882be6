package fetch

import (
	"errors"
	"fmt"
	"io"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/trust"
)

// verifyingReader passes an image through to the store while two
// goroutines look at copies of the stream: one checks the detached
// signature, the other reads the manifest to learn the image's name when
// the caller does not know it. The verdict comes at the end of the stream:
// instead of io.EOF a refused image yields an error, so the store's
// import fails before anything is committed. An early verdict (a signer
// no key in the store matches) stops the stream as soon as the name is
// known, without downloading the rest.
type verifyingReader struct {
	src   io.Reader
	trust *trust.Store
	name  string

	sigW, manW *io.PipeWriter
	sigCh      chan sigResult
	manCh      chan manResult
	sig        *sigResult
	man        *manResult

	finished bool
	final    error // io.EOF when the image was accepted
	// Signer is the key that signed the image, once accepted.
	Signer *trust.Key
}

type sigResult struct {
	key *trust.Key
	err error
}

type manResult struct {
	name string
	err  error
}

// newVerifyingReader checks src against sig; name is the image's name
// when known (discovery), "" to take it from the manifest.
func newVerifyingReader(src io.Reader, ts *trust.Store, sig []byte, name string) *verifyingReader {
	v := &verifyingReader{src: src, trust: ts, name: name,
		sigCh: make(chan sigResult, 1), manCh: make(chan manResult, 1)}
	sigR, sigW := io.Pipe()
	v.sigW = sigW
	go func() {
		k, err := ts.Check(sigR, sig)
		v.sigCh <- sigResult{k, err}
		// Keep the stream flowing after an early verdict.
		io.Copy(io.Discard, sigR)
	}()
	if name == "" {
		manR, manW := io.Pipe()
		v.manW = manW
		go func() {
			m, err := aci.ReadManifest(manR)
			if err != nil {
				v.manCh <- manResult{err: err}
			} else {
				v.manCh <- manResult{name: m.Name.String()}
			}
			io.Copy(io.Discard, manR)
		}()
	}
	return v
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.finished {
		return 0, v.final
	}
	n, err := v.src.Read(p)
	if n > 0 {
		v.feed(p[:n])
		if verdict := v.earlyVerdict(); verdict != nil {
			v.stop(verdict)
			return 0, verdict
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		v.finish()
		return n, v.final
	case err != nil:
		v.stop(err)
	}
	return n, err
}

func (v *verifyingReader) feed(b []byte) {
	// The goroutines drain their pipes whatever happens, so these writes
	// cannot block for good; their errors surface in the verdict.
	v.sigW.Write(b)
	if v.manW != nil {
		v.manW.Write(b)
	}
}

// earlyVerdict returns a refusal as soon as the signature check failed
// and the name to blame is known.
func (v *verifyingReader) earlyVerdict() error {
	if v.sig == nil {
		select {
		case r := <-v.sigCh:
			v.sig = &r
		default:
			return nil
		}
	}
	if v.sig.err == nil {
		return nil
	}
	name, ok := v.knownName(false)
	if !ok {
		return nil
	}
	return v.trust.Authorize(name, nil, v.sig.err)
}

// knownName returns the image's name, waiting for the manifest reader
// when wait is set.
func (v *verifyingReader) knownName(wait bool) (string, bool) {
	if v.name != "" {
		return v.name, true
	}
	if v.man == nil {
		if !wait {
			select {
			case r := <-v.manCh:
				v.man = &r
			default:
				return "", false
			}
		} else {
			r := <-v.manCh
			v.man = &r
		}
	}
	if v.man.err != nil {
		return "", true
	}
	return v.man.name, true
}

// finish closes the pipes at the end of the stream and gives the verdict.
func (v *verifyingReader) finish() {
	v.finished = true
	v.sigW.Close()
	if v.manW != nil {
		v.manW.Close()
	}
	if v.sig == nil {
		r := <-v.sigCh
		v.sig = &r
	}
	name, _ := v.knownName(true)
	if name == "" {
		v.final = fmt.Errorf("cannot verify the image's signature: %w", v.man.err)
		return
	}
	if err := v.trust.Authorize(name, v.sig.key, v.sig.err); err != nil {
		v.final = err
		return
	}
	v.Signer = v.sig.key
	v.final = io.EOF
}

// stop ends the goroutines after a failure; Read keeps returning err.
func (v *verifyingReader) stop(err error) {
	v.finished = true
	v.final = err
	v.sigW.CloseWithError(err)
	if v.manW != nil {
		v.manW.CloseWithError(err)
	}
	if v.sig == nil {
		r := <-v.sigCh
		v.sig = &r
	}
	if v.manW != nil && v.man == nil {
		r := <-v.manCh
		v.man = &r
	}
}

// verdict reads what is left of the stream, for a consumer that stopped
// before the end, and returns nil when the image was accepted.
func (v *verifyingReader) verdict() error {
	if !v.finished {
		if _, err := io.Copy(io.Discard, v); err != nil {
			return err
		}
	}
	if errors.Is(v.final, io.EOF) {
		return nil
	}
	return v.final
}

// close stops the goroutines if the stream was abandoned midway.
func (v *verifyingReader) close() {
	if !v.finished {
		v.stop(errors.New("download abandoned"))
	}
}
